using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// RFC 9068 §2.2 and threat model 2.3: every access token names its audience, so a resource server that checks
/// <c>aud</c> (as it must) accepts only tokens meant for it. A token whose scopes name no resource (openid,
/// profile, email, offline_access) is only good for this server's userinfo endpoint, so its audience is the
/// issuer itself; a resource server never accepts that audience.
/// </summary>
internal sealed class AccessTokenAudienceHandler : IOpenIddictServerHandler<ProcessSignInContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseSingletonHandler<AccessTokenAudienceHandler>()
            .SetOrder(OpenIddictServerHandlers.PrepareAccessTokenPrincipal.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ProcessSignInContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.AccessTokenPrincipal is { } principal && principal.GetAudiences().IsEmpty
            && (context.Options.Issuer ?? context.BaseUri)?.AbsoluteUri is { } issuer)
        {
            principal.SetAudiences(issuer);
        }

        return ValueTask.CompletedTask;
    }
}
