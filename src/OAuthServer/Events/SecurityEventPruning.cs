using OAuthServer.Data;

namespace OAuthServer.Events;

/// <summary>
/// Removes outbox rows published longer ago than <see cref="PruningOptions.SecurityEventRetention"/>, a batch per
/// statement. It runs whether or not NATS is configured.
/// </summary>
internal sealed class SecurityEventPruningTask(OAuthDbContext db) : IPruningTask
{
    public string Name => "published security events";

    public Task<long> PruneAsync(DateTimeOffset now, PruningOptions options, CancellationToken cancellationToken)
    {
        var cutoff = (now - options.SecurityEventRetention).UtcDateTime;
        return db.SecurityEvents.DeleteInBatchesAsync(
            item => item.PublishedAt != null && item.PublishedAt < cutoff, order: item => item.OccurredAt, key: item => item.Id, options.BatchSize, cancellationToken);
    }
}

/// <summary>
/// Removes outbox rows that were never published and occurred longer ago than
/// <see cref="PruningOptions.UnpublishedEventRetention"/>. The outbox guarantees delivery only while someone drains
/// it: with NATS unset, or away for longer than the retention, every unauthenticated failed login would otherwise
/// add a row forever (a disk filled by strangers). The relay's pending gauge and alert show such a backlog long before.
/// </summary>
internal sealed class UnpublishedSecurityEventPruningTask(OAuthDbContext db) : IPruningTask
{
    public string Name => "unpublished security events past Pruning:UnpublishedEventRetention";

    public Task<long> PruneAsync(DateTimeOffset now, PruningOptions options, CancellationToken cancellationToken)
    {
        var cutoff = (now - options.UnpublishedEventRetention).UtcDateTime;
        return db.SecurityEvents.DeleteInBatchesAsync(
            item => item.PublishedAt == null && item.OccurredAt < cutoff, order: item => item.OccurredAt, key: item => item.Id, options.BatchSize, cancellationToken);
    }
}
