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
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// Redeems single-use tokens (authorization codes, refresh tokens, PAR request tokens) with one atomic
/// conditional update, <c>status: valid → redeemed</c>, and counts the rows it changed. It replaces OpenIddict's
/// own <c>RedeemTokenEntry</c>, which redeems through an optimistic-concurrency update and, for refresh tokens,
/// ignores a failed redemption: two truly simultaneous uses of one refresh token could then both get tokens.
/// The database decides the race, so the guarantee holds across any number of nodes on one database.
/// </summary>
internal sealed class AtomicTokenRedemptionHandler(OAuthDbContext db, TokenReplays replays, TimeProvider clock)
    : IOpenIddictServerHandler<ProcessSignInContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireDegradedModeDisabled>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireTokenStorageEnabled>()
            .UseScopedHandler<AtomicTokenRedemptionHandler>()
            .SetOrder(OpenIddictServerHandlers.RedeemTokenEntry.Descriptor.Order)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessSignInContext context)
    {
        var authentication = context.Transaction.GetProperty<ProcessAuthenticationContext>(typeof(ProcessAuthenticationContext).FullName!)
            ?? throw new InvalidOperationException("The authentication context is missing.");
        var request = context.Request;
        var principal = context.EndpointType switch
        {
            OpenIddictServerEndpointType.Token when request.IsAuthorizationCodeGrantType() => authentication.AuthorizationCodePrincipal,
            OpenIddictServerEndpointType.Token when request.IsDeviceCodeGrantType() => authentication.DeviceCodePrincipal,
            OpenIddictServerEndpointType.Token when request.IsRefreshTokenGrantType() && !context.Options.DisableRollingRefreshTokens
                => authentication.RefreshTokenPrincipal,
            OpenIddictServerEndpointType.Authorization => authentication.RequestTokenPrincipal,
            OpenIddictServerEndpointType.EndUserVerification => authentication.UserCodePrincipal,
            _ => null,
        };

        var tokenId = principal?.GetTokenId();
        if (principal is null || string.IsNullOrEmpty(tokenId))
        {
            return;
        }

        // Note: CancellationToken.None on every write here: a client that hangs up must not be able to stop a
        // redemption or a family revocation half-way.
        var now = clock.GetUtcNow().UtcDateTime;
        var concurrencyToken = Guid.NewGuid().ToString();
        var redeemed = await db.Set<OpenIddictEntityFrameworkCoreToken>()
            .Where(token => token.Id == tokenId && token.Status == Statuses.Valid)
            .ExecuteUpdateAsync(setters => setters
                .SetProperty(token => token.Status, Statuses.Redeemed)
                .SetProperty(token => token.RedemptionDate, token => token.RedemptionDate ?? now)
                // Note: a new concurrency token makes any stale tracked copy of this row fail its own update.
                .SetProperty(token => token.ConcurrencyToken, concurrencyToken), CancellationToken.None);

        if (redeemed == 1)
        {
            // The row changed under the entity OpenIddict loaded earlier in this request. We know exactly what
            // the update wrote (it only applies to a valid row), so the tracked copy is brought up to date in
            // memory, as unchanged, instead of being read again.
            foreach (var entry in db.ChangeTracker.Entries<OpenIddictEntityFrameworkCoreToken>().Where(entry => entry.Entity.Id == tokenId).ToList())
            {
                Accept(entry.Property(token => token.Status), Statuses.Redeemed);
                Accept(entry.Property(token => token.RedemptionDate), entry.Entity.RedemptionDate ?? now);
                Accept(entry.Property(token => token.ConcurrencyToken), concurrencyToken);
            }

            return;
        }

        var isCode = principal.HasTokenType(TokenTypeIdentifiers.Private.AuthorizationCode);
        if (context.EndpointType != OpenIddictServerEndpointType.Token || !(isCode || principal.HasTokenType(TokenTypeIdentifiers.RefreshToken)))
        {
            context.Reject(Errors.InvalidToken, "The specified token is no longer valid.");
            return;
        }

        var status = await db.Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
            .Where(token => token.Id == tokenId).Select(token => token.Status).FirstOrDefaultAsync(CancellationToken.None);
        var kind = isCode ? "authorization code" : "refresh token";
        if (status == Statuses.Redeemed)
        {
            // Note: another request redeemed this token between our read of it and our update: one of the two is
            // a replay (RFC 9700 §4.14.2 for refresh tokens, §4.5 / OAuth 2.1 §4.1.3 for codes). Nobody can tell
            // which is the legitimate client, so the whole family goes.
            await replays.RevokeFamilyAsync(context.Transaction, principal);
            context.Reject(Errors.InvalidGrant, $"The specified {kind} has already been redeemed.");
            return;
        }

        // Revoked (by a replay detected elsewhere, a revocation request or an administrator) or gone meanwhile.
        context.Reject(Errors.InvalidGrant, $"The specified {kind} is no longer valid.");
    }

    private static void Accept<T>(Microsoft.EntityFrameworkCore.ChangeTracking.PropertyEntry<OpenIddictEntityFrameworkCoreToken, T> property, T value)
    {
        property.CurrentValue = value;
        property.OriginalValue = value;
        property.IsModified = false;
    }
}

/// <summary>
/// Runs just before OpenIddict's own token-entry check, which rejects a redeemed code or refresh token and
/// revokes the tokens of its authorization. This handler adds what OpenIddict doesn't do: it revokes the
/// authorization itself (so tokens a concurrent winner creates afterwards are dead too), records the
/// <c>refresh.replayed</c> or <c>code.replayed</c> event, counts and logs the replay.
/// </summary>
internal sealed class RedeemedTokenReplayHandler(IOpenIddictTokenManager tokens, TokenReplays replays)
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
            || !(context.Principal.HasTokenType(TokenTypeIdentifiers.RefreshToken) || context.Principal.HasTokenType(TokenTypeIdentifiers.Private.AuthorizationCode)))
        {
            return;
        }

        var token = await tokens.FindByIdAsync(context.TokenId!, CancellationToken.None);
        // Note: the reuse leeway is zero, so any redeemed code or refresh token presented again is a replay.
        if (token is null || !await tokens.HasStatusAsync(token, Statuses.Redeemed, CancellationToken.None))
        {
            return;
        }

        await replays.RevokeFamilyAsync(context.Transaction, context.Principal);
    }
}

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
