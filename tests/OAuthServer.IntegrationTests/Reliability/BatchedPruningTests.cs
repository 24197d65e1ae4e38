using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Admin;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Reliability;

/// <summary>
/// Every pruning task deletes through the one batched delete: with a backlog larger than Pruning:BatchSize, one
/// run still removes all of it (batch after batch, including a backlog that is an exact multiple of the batch)
/// and nothing within retention.
/// </summary>
public sealed class BatchedPruningTests
{
    [Fact]
    public async Task A_backlog_of_several_batches_is_pruned_in_one_run_and_rows_within_retention_stay()
    {
        await using var node = await CustomServer.StartAsync(new() { ["Pruning:Interval"] = "1.00:00:00", ["Pruning:BatchSize"] = "2" });
        var now = DateTimeOffset.UtcNow;
        var kept = await node.WithScopeAsync(async services =>
        {
            var db = services.GetRequiredService<OAuthDbContext>();
            SecurityEvent Event(DateTimeOffset occurred, DateTimeOffset? published) => new()
            {
                Type = SecurityEventTypes.LoginSucceeded, OccurredAt = occurred.UtcDateTime, PublishedAt = published?.UtcDateTime,
            };
            AuditEntry Audit(DateTimeOffset occurred) => new()
            {
                OccurredAt = occurred.UtcDateTime, Actor = "batch-test", Action = "client.updated", TargetType = "client", TargetId = "batch",
            };

            // 5 published and 4 unpublished events past retention, 4 audit rows past retention: 3, 2 and 2 batches of 2.
            var due = Enumerable.Range(1, 5).Select(day => Event(now.AddDays(-10 - day), now.AddDays(-10 - day)))
                .Concat(Enumerable.Range(1, 4).Select(day => Event(now.AddDays(-40 - day), null))).ToList();
            db.SecurityEvents.AddRange(due);
            db.AuditLog.AddRange(Enumerable.Range(1, 4).Select(day => Audit(now.AddDays(-500 - day))));
            var keptEvents = new[] { Event(now.AddHours(-1), now.AddHours(-1)), Event(now.AddDays(-2), null) };
            var keptAudit = Audit(now.AddDays(-10));
            db.SecurityEvents.AddRange(keptEvents);
            db.AuditLog.Add(keptAudit);
            await db.SaveChangesAsync();
            return (Events: keptEvents.Select(item => item.Id).ToArray(), DueEvents: due.Select(item => item.Id).ToArray(), Audit: keptAudit.Id);
        });

        var removed = await node.Services.GetRequiredService<DatabasePruner>().PruneOnceAsync(CancellationToken.None);

        removed["published security events"].Should().Be(5);
        removed["unpublished security events past Pruning:UnpublishedEventRetention"].Should().Be(4);
        removed["audit rows"].Should().Be(4);
        var (events, audit) = await node.WithScopeAsync(async services =>
        {
            var db = services.GetRequiredService<OAuthDbContext>();
            return (await db.SecurityEvents.Select(item => item.Id).ToListAsync(), await db.AuditLog.Where(entry => entry.Actor == "batch-test").Select(entry => entry.Id).ToListAsync());
        });
        events.Should().Contain(kept.Events, "events within retention stay").And.NotContain(kept.DueEvents);
        audit.Should().Equal(kept.Audit);
    }
}
