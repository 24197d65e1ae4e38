using OAuthServer.Accounts;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// The account gate on every code and refresh-token redemption. It runs inside OpenIddict's token pipeline,
/// right after the code or refresh token has been validated and its principal attached, so it holds whether or
/// not a passthrough handler runs: a user disabled or locked by an operator after sign-in can't redeem what they
/// were given (threat model 1.3). The automatic lockout after failed passwords is deliberately not checked here:
/// anyone can trigger it, so it must not end the owner's tokens (see <see cref="AccountGate"/>).
/// </summary>
internal sealed class AccountGateHandler(UserAccounts accounts, AccountGate gate) : IOpenIddictServerHandler<HandleTokenRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleTokenRequestContext>()
            .UseScopedHandler<AccountGateHandler>()
            .SetOrder(OpenIddictServerHandlers.Exchange.AttachPrincipal.Descriptor.Order + 1_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(HandleTokenRequestContext context)
    {
        if (!context.Request.IsAuthorizationCodeGrantType() && !context.Request.IsRefreshTokenGrantType())
        {
            return;
        }

        var user = await accounts.FindBySubjectAsync(context.Principal?.GetClaim(Claims.Subject), context.CancellationToken);
        if (gate.Check(user) != GateVerdict.Allowed)
        {
            context.Reject(Errors.InvalidGrant, "The user can no longer sign in.");
        }
    }
}
