using System.Text.Json;
using OAuthServer.Observability;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// Writes a DPoP binding into the tokens about to be generated: at the token endpoint, after a valid proof, the
/// access token's <c>cnf.jkt</c> (RFC 9449 §6.1) and, for a public client, the refresh token's bound key (§5);
/// at the authorization endpoint (directly or through PAR, whose parameters OpenIddict restores), the code's
/// bound key from <c>dpop_jkt</c> (§10), which <see cref="DpopTokenRequestHandler"/> enforces at redemption.
/// </summary>
internal sealed class DpopTokenBindingHandler(OAuthMetrics metrics) : IOpenIddictServerHandler<ProcessSignInContext>
{
    // Note: after every Prepare…Principal handler (the principals exist) and before the first token is generated.
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseSingletonHandler<DpopTokenBindingHandler>()
            .SetOrder(OpenIddictServerHandlers.GenerateAccessToken.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ProcessSignInContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.EndpointType == OpenIddictServerEndpointType.Authorization)
        {
            // Note: the shape was checked when the request was validated (DpopAuthorizationRequestHandler).
            if ((string?)context.Request.GetParameter(Dpop.JktParameter) is { Length: > 0 } jkt)
            {
                context.AuthorizationCodePrincipal?.SetClaim(Dpop.BoundKeyClaim, jkt);
            }

            return ValueTask.CompletedTask;
        }

        if (context.EndpointType != OpenIddictServerEndpointType.Token
            || !context.Transaction.Properties.TryGetValue(Dpop.BindingProperty, out var value) || value is not DpopBinding binding)
        {
            return ValueTask.CompletedTask;
        }

        if (context.AccessTokenPrincipal is { } access)
        {
            access.SetClaim(Dpop.ConfirmationClaim, JsonSerializer.SerializeToElement(
                new Dictionary<string, string> { [Dpop.ThumbprintMember] = binding.Thumbprint }));
            metrics.DpopBoundTokensIssued.Add(1);
        }

        if (binding.BindsRefreshToken)
        {
            context.RefreshTokenPrincipal?.SetClaim(Dpop.BoundKeyClaim, binding.Thumbprint);
        }

        return ValueTask.CompletedTask;
    }
}
