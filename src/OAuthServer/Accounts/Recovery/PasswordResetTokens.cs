using System.Buffers.Text;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OAuthServer.Data;
using OAuthServer.Events;

namespace OAuthServer.Accounts.Recovery;

/// <summary>A reset link that still works, and the account it resets.</summary>
internal sealed record RedeemableReset(Guid ResetId, User User);

/// <summary>
/// The reset tokens: 256 random bits, sent only in the link and stored only as their SHA-256; short-lived; the
/// newest link of a user is the only one that works; and redeemed at most once, by a conditional update that
/// exactly one of several concurrent redemptions wins.
/// </summary>
internal sealed class PasswordResetTokens(OAuthDbContext db, SecurityEvents events, TimeProvider clock, IOptions<PasswordResetOptions> options)
{
    private const int TokenBytes = 32;

    private DbSet<PasswordReset> Resets => db.Set<PasswordReset>();

    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>
    /// A new link for <paramref name="user"/>, recorded with its <c>password.reset_requested</c> event. The
    /// user's earlier unused links stop working: only the latest mail counts.
    /// </summary>
    public async Task<string> IssueAsync(User user, RequestOrigin origin, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        var token = RandomNumberGenerator.GetBytes(TokenBytes);
        var now = Now;
        await db.InTransactionAsync(async () =>
        {
            await Resets.Where(reset => reset.UserId == user.Id && reset.UsedAt == null).ExecuteDeleteAsync(cancellationToken);
            Resets.Add(new PasswordReset
            {
                UserId = user.Id,
                TokenHash = SHA256.HashData(token),
                CreatedAt = now,
                ExpiresAt = now + options.Value.TokenLifetime,
            });
            events.Add(SecurityEventTypes.PasswordResetRequested, origin, user.Id, new { outcome = "mailed" });
            await db.SaveChangesAsync(cancellationToken);
        }, cancellationToken);
        return Base64Url.EncodeToString(token);
    }

    /// <summary>
    /// The reset <paramref name="token"/> opens if it is well formed, known, unused, unexpired and its user's
    /// newest, and the account may still sign in (not disabled or locked by an operator); otherwise null.
    /// Reading spends nothing: mail scanners open links before the person does.
    /// </summary>
    public async Task<RedeemableReset?> FindAsync(string? token, CancellationToken cancellationToken)
    {
        if (Hash(token) is not { } hash)
        {
            return null;
        }

        var now = Now;
        var reset = await Resets.AsNoTracking()
            .Where(row => row.TokenHash == hash && row.UsedAt == null && row.ExpiresAt > now)
            .Where(row => !Resets.Any(newer => newer.UserId == row.UserId && newer.CreatedAt > row.CreatedAt))
            .SingleOrDefaultAsync(cancellationToken);
        if (reset is null)
        {
            return null;
        }

        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(row => row.Id == reset.UserId, cancellationToken);
        return user is { Status: AccountStatus.Active } ? new RedeemableReset(reset.Id, user) : null;
    }

    /// <summary>
    /// Spends the link: true for the one request whose conditional update found it still unused, unexpired and
    /// newest; every other concurrent or later attempt gets false.
    /// </summary>
    public async Task<bool> RedeemAsync(Guid resetId, CancellationToken cancellationToken)
    {
        var now = Now;
        // Note: one UPDATE ... WHERE used_at IS NULL: PostgreSQL re-checks the condition on the row a concurrent
        // winner has just committed and SQLite serialises writers, so two redemptions can't both see it unused.
        var won = await Resets
            .Where(row => row.Id == resetId && row.UsedAt == null && row.ExpiresAt > now)
            .Where(row => !Resets.Any(newer => newer.UserId == row.UserId && newer.CreatedAt > row.CreatedAt))
            .ExecuteUpdateAsync(set => set.SetProperty(row => row.UsedAt, now), CancellationToken.None);
        return won == 1;
    }

    /// <summary>Gives a link back after its redemption failed for a reason of ours (the server busy), not the person's.</summary>
    public Task ReleaseAsync(Guid resetId) =>
        Resets.Where(row => row.Id == resetId && row.UsedAt != null).ExecuteUpdateAsync(set => set.SetProperty(row => row.UsedAt, (DateTime?)null), CancellationToken.None);

    /// <summary>After a reset no other link of the user may work, even one from a request that crossed it.</summary>
    public Task<int> RemoveUnusedAsync(Guid userId, CancellationToken cancellationToken) =>
        Resets.Where(row => row.UserId == userId && row.UsedAt == null).ExecuteDeleteAsync(cancellationToken);

    private static byte[]? Hash(string? token)
    {
        // Note: a 32-byte token is 43 base64url characters; anything else is refused before any decoding work.
        if (token is not { Length: 43 })
        {
            return null;
        }

        Span<byte> bytes = stackalloc byte[TokenBytes + 2];
        if (Base64Url.DecodeFromChars(token, bytes, out var consumed, out var written) != System.Buffers.OperationStatus.Done
            || consumed != token.Length || written != TokenBytes)
        {
            return null;
        }

        return SHA256.HashData(bytes[..TokenBytes]);
    }
}

/// <summary>Removes reset links past their expiry, used or not.</summary>
internal sealed class PasswordResetPruningTask(OAuthDbContext db) : IPruningTask
{
    public string Name => "password resets";

    public Task<long> PruneAsync(DateTimeOffset now, PruningOptions options, CancellationToken cancellationToken)
    {
        var cutoff = now.UtcDateTime;
        return db.Set<PasswordReset>().DeleteInBatchesAsync(reset => reset.ExpiresAt < cutoff, order: reset => reset.ExpiresAt, key: reset => reset.Id, options.BatchSize, cancellationToken);
    }
}
