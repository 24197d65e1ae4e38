using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OpenIddict.Abstractions;
using OpenIddict.EntityFrameworkCore.Models;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>What the server does about a detected replay, whichever handler detected it.</summary>
internal sealed partial class TokenReplays(
    OAuthDbContext db, IOpenIddictTokenManager tokens, SecurityEvents events, OAuthMetrics metrics, ILogger<TokenReplays> logger)
{
    /// <summary>
    /// Revokes the token family (the authorization and all its tokens) and records exactly one event for this
    /// replay, in one transaction: the event exists if and only if the revocation was committed. Every write
    /// ignores the request's cancellation.
    /// </summary>
    public async Task RevokeFamilyAsync(OpenIddictServerTransaction transaction, ClaimsPrincipal principal)
    {
        var authorizationId = principal.GetAuthorizationId();
        var isRefresh = principal.HasTokenType(TokenTypeIdentifiers.RefreshToken);
        var eventType = isRefresh ? SecurityEventTypes.RefreshReplayed : SecurityEventTypes.CodeReplayed;
        var http = transaction.GetHttpRequest()?.HttpContext;
        var origin = http is null ? RequestOrigin.None : RequestOrigin.From(http, transaction.Request?.ClientId);
        Guid? userId = Guid.TryParse(principal.GetClaim(Claims.Subject), out var id) ? id : null;

        // Note: both revocations are bulk updates (ExecuteUpdate, and OpenIddict's store uses one too), which
        // commit on their own outside a transaction; the explicit one makes them and the outbox row one unit.
        await db.InTransactionAsync(async () =>
        {
            if (!string.IsNullOrEmpty(authorizationId))
            {
                await db.Set<OpenIddictEntityFrameworkCoreAuthorization>()
                    .Where(authorization => authorization.Id == authorizationId && authorization.Status != Statuses.Revoked)
                    .ExecuteUpdateAsync(setters => setters
                        .SetProperty(authorization => authorization.Status, Statuses.Revoked)
                        .SetProperty(authorization => authorization.ConcurrencyToken, Guid.NewGuid().ToString()), CancellationToken.None);
                await tokens.RevokeByAuthorizationIdAsync(authorizationId, CancellationToken.None);
            }

            events.Add(eventType, origin, userId, new { authorization_id = authorizationId });
            await db.SaveChangesAsync(CancellationToken.None);
        }, CancellationToken.None);

        if (isRefresh)
        {
            metrics.RefreshReplays.Add(1);
        }

        LogReplay(logger, eventType, userId, origin.ClientId, authorizationId, origin.Ip, origin.UserAgent);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit {EventType} user {UserId} client {ClientId} authorization {AuthorizationId} revoked; from {Ip} ({UserAgent})")]
    private static partial void LogReplay(ILogger logger, string eventType, Guid? userId, string? clientId, string? authorizationId, string? ip, string? userAgent);
}
