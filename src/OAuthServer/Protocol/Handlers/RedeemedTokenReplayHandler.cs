using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// Runs just before OpenIddict's own token-entry check, which rejects a redeemed code or refresh token and
/// revokes the tokens of its authorization. This handler adds what OpenIddict doesn't do: it revokes the
/// authorization itself (so tokens a concurrent winner creates afterwards are dead too), records the
/// <c>refresh.replayed</c> or <c>code.replayed</c> event, counts and logs the replay.
/// </summary>
internal sealed class RedeemedTokenReplayHandler(IOpenIddictTokenManager tokens, TokenReplays replays, RefreshRetryWindow retries)
    : IOpenIddictServerHandler<ValidateTokenContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenContext>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireTokenStorageEnabled>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireTokenIdResolved>()
            .UseScopedHandler<RedeemedTokenReplayHandler>()
            .SetOrder(OpenIddictServerHandlers.Protection.ValidateTokenEntry.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ValidateTokenContext context)
    {
        if (context.EndpointType != OpenIddictServerEndpointType.Token
            || context.Principal is null
            || !(context.Principal.HasTokenType(TokenTypeIdentifiers.RefreshToken) || context.Principal.HasTokenType(TokenTypeIdentifiers.Private.AuthorizationCode)
                // Note: a device code (RFC 8628) is single-use like a code: presented again, it was copied.
                || context.Principal.HasTokenType(TokenTypeIdentifiers.Private.DeviceCode)))
        {
            return;
        }

        var token = await tokens.FindByIdAsync(context.TokenId!, CancellationToken.None);
        // Note: the reuse leeway is zero, so any redeemed code or refresh token presented again is a replay
        // (unless it is a refresh retry inside its client's window, below).
        if (token is null || !await tokens.HasStatusAsync(token, Statuses.Redeemed, CancellationToken.None))
        {
            return;
        }

        // Note: a client that lost the rotation's response, back inside its retry window, is not a replay.
        if (await retries.TryAcceptAsync(context.Transaction, context.Principal, context.TokenId!))
        {
            return;
        }

        await replays.RevokeFamilyAsync(context.Transaction, context.Principal);
    }
}
