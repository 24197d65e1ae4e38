using Microsoft.AspNetCore;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// auth-rs "refresh replay": runs just before OpenIddict's own token-entry check, which rejects a redeemed
/// refresh token and revokes its authorization's tokens. This handler only observes: it counts the replay,
/// records a <c>refresh.replayed</c> event with the client IP and user agent, and logs it.
/// </summary>
internal sealed partial class RefreshReplayHandler(
    IOpenIddictTokenManager tokens, SecurityEvents events, OAuthDbContext db, OAuthMetrics metrics, ILogger<RefreshReplayHandler> logger)
    : IOpenIddictServerHandler<ValidateTokenContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenContext>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireTokenStorageEnabled>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireTokenIdResolved>()
            .UseScopedHandler<RefreshReplayHandler>()
            .SetOrder(OpenIddictServerHandlers.Protection.ValidateTokenEntry.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ValidateTokenContext context)
    {
        if (context.EndpointType != OpenIddictServerEndpointType.Token
            || context.Principal is null
            || !context.Principal.HasTokenType(TokenTypeIdentifiers.RefreshToken))
        {
            return;
        }

        var token = await tokens.FindByIdAsync(context.TokenId!, context.CancellationToken);
        // Note: the reuse leeway is zero, so any redeemed refresh token presented again is a replay.
        if (token is null || !await tokens.HasStatusAsync(token, Statuses.Redeemed, context.CancellationToken))
        {
            return;
        }

        var http = context.Transaction.GetHttpRequest()?.HttpContext;
        var origin = http is null ? RequestOrigin.None : RequestOrigin.From(http, context.Request?.ClientId);
        Guid? userId = Guid.TryParse(context.Principal.GetClaim(Claims.Subject), out var id) ? id : null;
        var authorizationId = context.Principal.GetAuthorizationId();
        metrics.RefreshReplays.Add(1);
        events.Add(SecurityEventTypes.RefreshReplayed, origin, userId, new { authorization_id = authorizationId });
        await db.SaveChangesAsync(context.CancellationToken);
        LogReplay(logger, userId, origin.ClientId, authorizationId, origin.Ip, origin.UserAgent);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit refresh.replayed user {UserId} client {ClientId} authorization {AuthorizationId} revoked; from {Ip} ({UserAgent})")]
    private static partial void LogReplay(ILogger logger, Guid? userId, string? clientId, string? authorizationId, string? ip, string? userAgent);
}

/// <summary>Counts successful token responses by grant type (<c>oauth_tokens_issued_total{grant_type}</c>).</summary>
internal sealed class TokensIssuedHandler(OAuthMetrics metrics) : IOpenIddictServerHandler<ApplyTokenResponseContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyTokenResponseContext>()
            .UseSingletonHandler<TokensIssuedHandler>()
            .SetOrder(int.MinValue + 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ApplyTokenResponseContext context)
    {
        if (string.IsNullOrEmpty(context.Response.Error) && !string.IsNullOrEmpty(context.Response.AccessToken))
        {
            metrics.TokensIssued.Add(1, new KeyValuePair<string, object?>("grant_type", context.Request?.GrantType ?? "unknown"));
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Records a <c>token.revoked</c> event when RFC 7009 revocation really revoked a token. It runs after
/// OpenIddict's own RevokeToken handler, which rejects unknown or invalid tokens (the client still gets 200, as
/// the RFC wants), so a stream of bogus revocations writes no events.
/// </summary>
internal sealed class TokenRevokedHandler(SecurityEvents events, OAuthDbContext db) : IOpenIddictServerHandler<HandleRevocationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleRevocationRequestContext>()
            .UseScopedHandler<TokenRevokedHandler>()
            .SetOrder(OpenIddictServerHandlers.Revocation.RevokeToken.Descriptor.Order + 1_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(HandleRevocationRequestContext context)
    {
        if (context.IsRejected)
        {
            return;
        }

        var http = context.Transaction.GetHttpRequest()?.HttpContext;
        var origin = http is null ? RequestOrigin.None : RequestOrigin.From(http, context.Request?.ClientId);
        events.Add(SecurityEventTypes.TokenRevoked, origin, data: new { token_type_hint = context.Request?.TokenTypeHint });
        await db.SaveChangesAsync(context.CancellationToken);
    }
}
