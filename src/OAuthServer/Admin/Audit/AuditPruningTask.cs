using OAuthServer.Data;

namespace OAuthServer.Admin;

/// <summary>
/// Removes audit rows older than Pruning:AuditRetention, a batch per statement. Deleting old rows is the only
/// removal there is: the application never changes a row, and the database refuses updates.
/// </summary>
internal sealed class AuditPruningTask(Data.OAuthDbContext db) : Data.IPruningTask
{
    public string Name => "audit rows";

    public Task<long> PruneAsync(DateTimeOffset now, Data.PruningOptions options, CancellationToken cancellationToken)
    {
        var cutoff = (now - options.AuditRetention).UtcDateTime;
        return db.AuditLog.DeleteInBatchesAsync(entry => entry.OccurredAt < cutoff, order: entry => entry.Id, key: entry => entry.Id, options.BatchSize, cancellationToken);
    }
}
