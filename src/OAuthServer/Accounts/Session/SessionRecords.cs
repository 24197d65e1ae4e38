using Microsoft.EntityFrameworkCore;
using OAuthServer.Data;
using OAuthServer.Events;

namespace OAuthServer.Accounts;

/// <summary>A person's view of their own live sessions, and the ends they can put to them.</summary>
internal sealed class SessionRecords(OAuthDbContext db, SecurityEvents events, TimeProvider clock)
{
    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    /// <summary>The user's sessions that a live cookie can still name, most recently seen first.</summary>
    public Task<List<SessionRecord>> LiveAsync(Guid userId, CancellationToken cancellationToken)
    {
        var born = Now - BrowserSession.Lifetime;
        return db.Set<SessionRecord>().AsNoTracking()
            .Where(row => row.UserId == userId && row.EndedAt == null && row.CreatedAt > born)
            .OrderByDescending(row => row.LastSeenAt)
            .Take(100)
            .ToListAsync(cancellationToken);
    }

    /// <summary>
    /// Ends one of the user's own sessions. The user id is part of the match: an id of another user's session ends
    /// nothing (and says so), whoever sent it.
    /// </summary>
    public async Task<bool> EndAsync(Guid userId, Guid sessionId, RequestOrigin origin, CancellationToken cancellationToken)
    {
        return await db.InTransactionAsync(async () =>
        {
            var ended = await db.Set<SessionRecord>()
                .Where(row => row.Id == sessionId && row.UserId == userId && row.EndedAt == null)
                .ExecuteUpdateAsync(set => set.SetProperty(row => row.EndedAt, Now), cancellationToken);
            if (ended != 1)
            {
                return false;
            }

            events.Add(SecurityEventTypes.SessionEnded, origin, userId, new { cause = "ended_by_user", session = "other" });
            await db.SaveChangesAsync(cancellationToken);
            return true;
        }, cancellationToken);
    }

    /// <summary>
    /// Sign out everywhere: ends every session record of the user, this browser's included, and rotates the
    /// security stamp, so even a cookie whose record check were skipped is refused. Returns how many ended.
    /// </summary>
    public Task<int> EndAllAsync(Guid userId, RequestOrigin origin, CancellationToken cancellationToken) =>
        db.InTransactionAsync(async () =>
        {
            var now = Now;
            var ended = await db.Set<SessionRecord>()
                .Where(row => row.UserId == userId && row.EndedAt == null)
                .ExecuteUpdateAsync(set => set.SetProperty(row => row.EndedAt, now), cancellationToken);
            var stamp = User.NewSecurityStamp();
            await db.Users.Where(row => row.Id == userId).ExecuteUpdateAsync(set => set
                .SetProperty(row => row.SecurityStamp, stamp)
                .SetProperty(row => row.UpdatedAt, now), cancellationToken);
            events.Add(SecurityEventTypes.SessionEnded, origin, userId, new { cause = "signed_out_everywhere", count = ended });
            await db.SaveChangesAsync(cancellationToken);
            return ended;
        }, cancellationToken);
}

/// <summary>
/// Removes session records no cookie can name any more: ended ones, and those older than a cookie lives
/// (<see cref="BrowserSession.Lifetime"/>), a day after either, so the page's list stays short.
/// </summary>
internal sealed class SessionRecordPruningTask(OAuthDbContext db) : IPruningTask
{
    private static readonly TimeSpan Grace = TimeSpan.FromDays(1);

    public string Name => "ended and expired browser sessions";

    public Task<long> PruneAsync(DateTimeOffset now, PruningOptions options, CancellationToken cancellationToken)
    {
        var ended = (now - Grace).UtcDateTime;
        var born = (now - BrowserSession.Lifetime - Grace).UtcDateTime;
        return db.Set<SessionRecord>().DeleteInBatchesAsync(
            row => row.CreatedAt < born || (row.EndedAt != null && row.EndedAt < ended),
            order: row => row.CreatedAt, key: row => row.Id, options.BatchSize, cancellationToken);
    }
}
