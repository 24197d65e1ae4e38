using OpenIddict.Abstractions;
using OpenIddict.Server;
using OpenIddict.Validation;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// OpenIddict 7.8 knows one confirmation method, the client certificate of RFC 8705 (<c>cnf.x5t#S256</c>): its
/// proof-of-possession check throws on any other <c>cnf</c>, so a DPoP-bound token would be a 500 wherever
/// OpenIddict validates access tokens. These two handlers take DPoP confirmations (<c>cnf.jkt</c> alone) off
/// that check and decide themselves: the server's own endpoints leave them to <see cref="DpopUserInfoHandler"/>,
/// and the bearer-only validation stack (the admin API, dynamic registration) refuses them, as RFC 9449 §7.2 has a
/// resource do with a bound token it can't check the proof of. Certificate confirmations keep OpenIddict's check.
/// </summary>
internal static class DpopConfirmationHandlers
{
    /// <summary>True when the token's <c>cnf</c> is a DPoP one (a <c>jkt</c> and no certificate thumbprint).</summary>
    internal static bool IsDpopConfirmation(System.Security.Claims.ClaimsPrincipal? principal) =>
        DpopUserInfoHandler.BoundKey(principal) is not null
        && principal!.GetClaim(Dpop.ConfirmationClaim) is { } cnf && !cnf.Contains("\"x5t#S256\"", StringComparison.Ordinal);

    internal sealed class Server : IOpenIddictServerHandler<OpenIddictServerEvents.ValidateTokenContext>
    {
        public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
            OpenIddictServerHandlerDescriptor.CreateBuilder<OpenIddictServerEvents.ValidateTokenContext>()
                .UseSingletonHandler<Server>()
                .SetOrder(OpenIddictServerHandlers.Protection.ValidateProofOfPossession.Descriptor.Order - 1)
                .SetType(OpenIddictServerHandlerType.Custom)
                .Build();

        public ValueTask HandleAsync(OpenIddictServerEvents.ValidateTokenContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            if (IsDpopConfirmation(context.Principal))
            {
                context.DisableProofOfPossessionValidation = true;
            }

            return ValueTask.CompletedTask;
        }
    }

    internal sealed class Validation : IOpenIddictValidationHandler<OpenIddictValidationEvents.ValidateTokenContext>
    {
        public static OpenIddictValidationHandlerDescriptor Descriptor { get; } =
            OpenIddictValidationHandlerDescriptor.CreateBuilder<OpenIddictValidationEvents.ValidateTokenContext>()
                .UseSingletonHandler<Validation>()
                .SetOrder(OpenIddictValidationHandlers.Protection.ValidateProofOfPossession.Descriptor.Order - 1)
                .SetType(OpenIddictValidationHandlerType.Custom)
                .Build();

        public ValueTask HandleAsync(OpenIddictValidationEvents.ValidateTokenContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            if (IsDpopConfirmation(context.Principal))
            {
                context.Reject(Errors.InvalidToken, "The access token is bound to a DPoP key; this endpoint takes bearer tokens only (RFC 9449 section 7.2).");
            }

            return ValueTask.CompletedTask;
        }
    }
}
