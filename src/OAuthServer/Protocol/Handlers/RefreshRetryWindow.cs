using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OAuthServer.Data;
using OpenIddict.Abstractions;
using OpenIddict.EntityFrameworkCore.Models;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>
/// The refresh retry window: a client whose refresh response was lost retries with the token it just rotated, and
/// within the window it gets the same successor again (idempotent) instead of being treated as a replay. Outside
/// the window, or once the successor has been used, the retry is a replay as before (RFC 9700 §4.14.2).
/// </summary>
/// <remarks>
/// Note: refresh tokens are stored only as hashes (threat model 2.4), so the successor's value can't be read back
/// from its own row. It is kept, for the window only, on the rotated token's row: protected with ASP.NET Data
/// Protection (the ring every node shares, encrypted at rest), under a purpose bound to that row's id, and carrying
/// its own deadline. A copy of the database alone yields nothing usable; a copy moved to another row doesn't open.
/// </remarks>
internal sealed class RefreshRetryWindow(
    OAuthDbContext db, IOpenIddictApplicationManager applications, IOpenIddictTokenManager tokens, IDataProtectionProvider protection,
    IOptions<TokenOptions> options, TimeProvider clock)
{
    /// <summary>The client setting (seconds) that overrides <see cref="TokenOptions.RefreshRetryWindow"/>.</summary>
    public const string Setting = "oauthserver:refresh_retry_window";

    /// <summary>Set in the OpenIddict transaction when this request is an accepted retry.</summary>
    public const string RetryProperty = "oauthserver:refresh_retry";

    private const string SuccessorProperty = "oauthserver_retry_successor";
    private const string Purpose = "OAuthServer.RefreshRetry.v1";

    // Note: a retry that raced the rotation it repeats waits this long, at most, for that rotation to record its successor.
    private static readonly TimeSpan PendingWait = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan PendingPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>A client's own window, if it has one.</summary>
    public static TimeSpan? Of(IReadOnlyDictionary<string, string> settings) =>
        settings.TryGetValue(Setting, out var value) && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(seconds)
            : null;

    public async Task<TimeSpan> ForClientAsync(string? clientId, CancellationToken cancellationToken)
    {
        var fallback = options.Value.RefreshRetryWindow;
        if (string.IsNullOrEmpty(clientId) || await applications.FindByClientIdAsync(clientId, cancellationToken) is not { } application)
        {
            return fallback;
        }

        return Of(await applications.GetSettingsAsync(application, cancellationToken)) ?? fallback;
    }

    /// <summary>
    /// Keeps <paramref name="successorValue"/> on the row of <paramref name="rotatedId"/> (just redeemed by this
    /// request) until the window of <paramref name="clientId"/> ends. Nothing is written when the window is off.
    /// </summary>
    public async Task RecordSuccessorAsync(string rotatedId, string successorId, string successorValue, string? clientId)
    {
        var window = await ForClientAsync(clientId, CancellationToken.None);
        if (window <= TimeSpan.Zero)
        {
            return;
        }

        var payload = JsonSerializer.Serialize(new SuccessorPayload(successorId, successorValue, clock.GetUtcNow().Add(window).ToUnixTimeMilliseconds()));
        var sealedValue = protection.CreateProtector(Purpose, rotatedId).Protect(payload);
        var current = await db.Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
            .Where(token => token.Id == rotatedId).Select(token => token.Properties).FirstOrDefaultAsync(CancellationToken.None);
        var properties = (string.IsNullOrEmpty(current) ? null : JsonNode.Parse(current) as JsonObject) ?? [];
        properties[SuccessorProperty] = sealedValue;
        var json = properties.ToJsonString();
        // Note: CancellationToken.None: the successor is already issued; a client that hangs up now is the very
        // client that will retry.
        await db.Set<OpenIddictEntityFrameworkCoreToken>()
            .Where(token => token.Id == rotatedId && token.Status == Statuses.Redeemed)
            .ExecuteUpdateAsync(setters => setters.SetProperty(token => token.Properties, json), CancellationToken.None);
    }

    /// <summary>
    /// Decides whether a redeemed refresh token presented again is a retry inside its client's window: the window
    /// is on, the rotation was at most that long ago, and the successor it issued is still unused. Then the
    /// successor is kept in the transaction (<see cref="RetryProperty"/>) and true is returned; the caller treats
    /// false as a replay. A retry that raced its own rotation waits briefly for the successor to be recorded.
    /// </summary>
    public async Task<bool> TryAcceptAsync(OpenIddictServerTransaction transaction, ClaimsPrincipal principal, string tokenId)
    {
        // Note: only the client the token was issued to can be retrying; another client presenting it is a replay
        // (and loses the family) exactly as before.
        var clientId = transaction.Request?.ClientId;
        if (!principal.HasTokenType(TokenTypeIdentifiers.RefreshToken) || string.IsNullOrEmpty(clientId) || !principal.HasPresenter(clientId))
        {
            return false;
        }

        var window = await ForClientAsync(clientId, CancellationToken.None);
        if (window <= TimeSpan.Zero)
        {
            return false;
        }

        var waitUntil = DateTimeOffset.UtcNow + PendingWait;
        while (true)
        {
            var row = await db.Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
                .Where(token => token.Id == tokenId)
                .Select(token => new { token.Status, token.RedemptionDate, token.Properties })
                .FirstOrDefaultAsync(CancellationToken.None);
            var now = clock.GetUtcNow();
            if (row is not { Status: Statuses.Redeemed, RedemptionDate: { } redeemedAt }
                || new DateTimeOffset(DateTime.SpecifyKind(redeemedAt, DateTimeKind.Utc)) + window < now)
            {
                return false;
            }

            if (Unseal(tokenId, row.Properties) is { } successor)
            {
                if (DateTimeOffset.FromUnixTimeMilliseconds(successor.NotAfter) < now
                    || await tokens.FindByIdAsync(successor.Id, CancellationToken.None) is not { } entry
                    || !await tokens.HasStatusAsync(entry, Statuses.Valid, CancellationToken.None))
                {
                    // Note: the successor was used (or revoked): a retry can no longer be told from a replay.
                    return false;
                }

                transaction.Properties[RetryProperty] = new AcceptedRetry(tokenId, successor.Id, successor.Value);
                return true;
            }

            if (DateTimeOffset.UtcNow >= waitUntil)
            {
                // The rotation never recorded a successor (it failed, or the window was off then): nothing to repeat.
                return false;
            }

            await Task.Delay(PendingPoll, CancellationToken.None);
        }
    }

    /// <summary>The retry this request was accepted as, if it was.</summary>
    public static AcceptedRetry? AcceptedIn(OpenIddictServerTransaction transaction) =>
        transaction.Properties.TryGetValue(RetryProperty, out var value) ? value as AcceptedRetry : null;

    private SuccessorPayload? Unseal(string tokenId, string? properties)
    {
        if (string.IsNullOrEmpty(properties) || JsonNode.Parse(properties) is not JsonObject json
            || json[SuccessorProperty]?.GetValue<string>() is not { Length: > 0 } sealedValue)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<SuccessorPayload>(protection.CreateProtector(Purpose, tokenId).Unprotect(sealedValue));
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            // Note: not sealed for this row (copied from another), or its key left the ring: no successor to repeat.
            return null;
        }
    }

    private sealed record SuccessorPayload(string Id, string Value, long NotAfter);
}

/// <summary>A retry inside the window: the rotated token and the successor it gets again.</summary>
internal sealed record AcceptedRetry(string RotatedId, string SuccessorId, string SuccessorValue);
