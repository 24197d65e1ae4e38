using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// Userinfo answers about a person, so a token without one is refused. A client_credentials token's subject is
/// the client itself (<c>sub</c> = <c>client_id</c>); were a client_id ever equal to a user's id, userinfo would
/// otherwise hand that person's claims to the client. Client ids that look like user ids are refused at
/// registration too (<see cref="Admin.ClientRegistry"/>); this holds for tokens issued before that rule.
/// </summary>
internal sealed class UserInfoRequiresUserHandler : IOpenIddictServerHandler<ValidateUserInfoRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateUserInfoRequestContext>()
            .UseSingletonHandler<UserInfoRequiresUserHandler>()
            .SetOrder(OpenIddictServerHandlers.UserInfo.ValidateAuthentication.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidateUserInfoRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var subject = context.AccessTokenPrincipal?.GetClaim(Claims.Subject);
        if (string.IsNullOrEmpty(subject) || string.Equals(subject, context.AccessTokenPrincipal!.GetClaim(Claims.ClientId), StringComparison.Ordinal))
        {
            context.Reject(Errors.InvalidToken, "The access token was not issued for a user.");
        }

        return ValueTask.CompletedTask;
    }
}
