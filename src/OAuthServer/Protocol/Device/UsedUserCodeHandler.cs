using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Device;

/// <summary>
/// A user code that was already used is simply not valid any more. OpenIddict's token-entry check treats any
/// redeemed token presented again as stolen and revokes its authorization's tokens, which for a user code would be
/// the device's fresh sign-in: anyone who read the code off the TV (or the owner reopening the link) could end the
/// device's session. The device code never left the device, so nothing is compromised; the code is refused as
/// unknown (one answer for wrong, expired and used codes) and nothing is revoked.
/// </summary>
internal sealed class UsedUserCodeHandler(IOpenIddictTokenManager tokens) : IOpenIddictServerHandler<ValidateTokenContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenContext>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireTokenStorageEnabled>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireTokenIdResolved>()
            .UseScopedHandler<UsedUserCodeHandler>()
            .SetOrder(OpenIddictServerHandlers.Protection.ValidateTokenEntry.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ValidateTokenContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Principal is null || !context.Principal.HasTokenType(TokenTypeIdentifiers.Private.UserCode))
        {
            return;
        }

        var token = await tokens.FindByIdAsync(context.TokenId!, context.CancellationToken);
        if (token is null || !await tokens.HasStatusAsync(token, Statuses.Valid, context.CancellationToken))
        {
            context.Reject(Errors.InvalidToken, "The specified user code is no longer valid.");
        }
    }
}
