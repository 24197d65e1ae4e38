using OAuthServer.Accounts;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// The account gate (<see cref="AdmittedUser"/>) inside OpenIddict's pipeline, on every code, device-code and refresh-token
/// redemption and every userinfo request: right after the code, refresh token or access token has been validated
/// and its principal attached, and before any passthrough endpoint runs, so it holds whatever the endpoint does.
/// A user disabled or locked by an operator after sign-in can redeem nothing and read nothing (threat model 1.3):
/// <c>invalid_grant</c> at the token endpoint (RFC 6749 §5.2), <c>invalid_token</c> at userinfo (RFC 6750 §3.1).
/// The automatic lockout after failed passwords is deliberately not checked: anyone can trigger it, so it must
/// not end the owner's tokens (see <see cref="AccountGate"/>). The endpoints take the user it admitted.
/// </summary>
internal sealed class AccountGateHandler(AdmittedUser admitted) :
    IOpenIddictServerHandler<HandleTokenRequestContext>,
    IOpenIddictServerHandler<ValidateUserInfoRequestContext>
{
    public static OpenIddictServerHandlerDescriptor TokenDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleTokenRequestContext>()
            .UseScopedHandler<AccountGateHandler>()
            .SetOrder(OpenIddictServerHandlers.Exchange.AttachPrincipal.Descriptor.Order + 1_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    // Note: after UserInfoRequiresUserHandler, so a client's own token is refused as one before any user is loaded.
    public static OpenIddictServerHandlerDescriptor UserInfoDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateUserInfoRequestContext>()
            .UseScopedHandler<AccountGateHandler>()
            .SetOrder(UserInfoRequiresUserHandler.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(HandleTokenRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.Request.IsAuthorizationCodeGrantType() && !context.Request.IsRefreshTokenGrantType() && !context.Request.IsDeviceCodeGrantType())
        {
            return;
        }

        if (await admitted.AdmitAsync(context.Principal?.GetClaim(Claims.Subject), context.CancellationToken) is null)
        {
            context.Reject(Errors.InvalidGrant, "The user can no longer sign in.");
        }
    }

    public async ValueTask HandleAsync(ValidateUserInfoRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (await admitted.AdmitAsync(context.AccessTokenPrincipal?.GetClaim(Claims.Subject), context.CancellationToken) is null)
        {
            context.Reject(Errors.InvalidToken, "The token's user can no longer sign in.");
        }
    }
}
