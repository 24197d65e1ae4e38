using Microsoft.EntityFrameworkCore;
using OAuthServer.Data;

namespace OAuthServer.Events;

/// <summary>
/// Removes outbox rows published longer ago than the retention, a batch per statement. A row JetStream never
/// acknowledged is never removed, however old: the outbox is what guarantees delivery.
/// </summary>
internal sealed class SecurityEventPruningTask(OAuthDbContext db) : IPruningTask
{
    public string Name => "published security events";

    public async Task<long> PruneAsync(DateTimeOffset now, PruningOptions options, CancellationToken cancellationToken)
    {
        var cutoff = (now - options.SecurityEventRetention).UtcDateTime;
        long removed = 0;
        while (true)
        {
            var batch = db.SecurityEvents.Where(item => item.PublishedAt != null && item.PublishedAt < cutoff)
                .OrderBy(item => item.PublishedAt).Select(item => item.Id).Take(options.BatchSize);
            var deleted = await db.SecurityEvents.Where(item => batch.Contains(item.Id)).ExecuteDeleteAsync(cancellationToken);
            removed += deleted;
            if (deleted < options.BatchSize)
            {
                return removed;
            }
        }
    }
}
