using Microsoft.Extensions.Options;
using OpenIddict.Server;

namespace OAuthServer.Admin;

/// <summary>Advertises <c>registration_endpoint</c> in discovery (RFC 8414 §2) when registration is on.</summary>
internal sealed class RegistrationEndpointMetadataHandler(IOptions<AdminOptions> options)
    : IOpenIddictServerHandler<OpenIddictServerEvents.HandleConfigurationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<OpenIddictServerEvents.HandleConfigurationRequestContext>()
            .UseSingletonHandler<RegistrationEndpointMetadataHandler>()
            .SetOrder(int.MaxValue - 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(OpenIddictServerEvents.HandleConfigurationRequestContext context)
    {
        if (options.Value.DynamicRegistrationEnabled && (context.Issuer ?? context.Options.Issuer) is { } issuer)
        {
            context.Metadata["registration_endpoint"] = new Uri(issuer, DynamicRegistration.Path.TrimStart('/')).AbsoluteUri;
        }

        return ValueTask.CompletedTask;
    }
}
