using System.Text.Json;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// What DPoP adds to the documents OpenIddict answers: <c>dpop_signing_alg_values_supported</c> in discovery
/// (RFC 9449 §5.1), and <c>cnf</c> in the introspection of a bound access token (§6.2), so a resource server that
/// introspects can check the proof's key. The thumbprint is a public key's hash, so it is given to every caller
/// that may introspect the token, not only to its audience.
/// </summary>
internal sealed class DpopMetadataHandler :
    IOpenIddictServerHandler<HandleConfigurationRequestContext>,
    IOpenIddictServerHandler<HandleIntrospectionRequestContext>
{
    public static OpenIddictServerHandlerDescriptor ConfigurationDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleConfigurationRequestContext>()
            .UseSingletonHandler<DpopMetadataHandler>()
            .SetOrder(int.MaxValue - 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public static OpenIddictServerHandlerDescriptor IntrospectionDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleIntrospectionRequestContext>()
            .UseSingletonHandler<DpopMetadataHandler>()
            .SetOrder(OpenIddictServerHandlers.Introspection.AttachApplicationClaims.Descriptor.Order + 1_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(HandleConfigurationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Metadata[Dpop.SigningAlgorithmsMetadata] = JsonSerializer.SerializeToElement(DpopProofReader.Algorithms);
        return ValueTask.CompletedTask;
    }

    public ValueTask HandleAsync(HandleIntrospectionRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (DpopUserInfoHandler.BoundKey(context.GenericTokenPrincipal) is { } jkt)
        {
            context.Claims[Dpop.ConfirmationClaim] = JsonSerializer.SerializeToElement(new Dictionary<string, string> { [Dpop.ThumbprintMember] = jkt });
        }

        return ValueTask.CompletedTask;
    }
}
