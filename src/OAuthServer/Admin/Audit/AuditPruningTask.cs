using Microsoft.EntityFrameworkCore;

namespace OAuthServer.Admin;

/// <summary>
/// Removes audit rows older than Pruning:AuditRetention, a batch per statement. Deleting old rows is the only
/// removal there is: the application never changes a row, and the database refuses updates.
/// </summary>
internal sealed class AuditPruningTask(Data.OAuthDbContext db) : Data.IPruningTask
{
    public string Name => "audit rows";

    public async Task<long> PruneAsync(DateTimeOffset now, Data.PruningOptions options, CancellationToken cancellationToken)
    {
        var cutoff = (now - options.AuditRetention).UtcDateTime;
        long removed = 0;
        while (true)
        {
            var batch = db.AuditLog.Where(entry => entry.OccurredAt < cutoff).OrderBy(entry => entry.Id).Select(entry => entry.Id).Take(options.BatchSize);
            var deleted = await db.AuditLog.Where(entry => batch.Contains(entry.Id)).ExecuteDeleteAsync(cancellationToken);
            removed += deleted;
            if (deleted < options.BatchSize)
            {
                return removed;
            }
        }
    }
}
