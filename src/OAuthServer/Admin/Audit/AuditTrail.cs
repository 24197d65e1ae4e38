using System.Text.Json;
using OAuthServer.Data;

namespace OAuthServer.Admin;

/// <summary>
/// Writes the audit rows that <see cref="AuditingInterceptor"/> can't see, under the actor and action of the current
/// <see cref="AuditScope"/> (threat model 3.3): a key file has no entity, and a bulk change (a set-based update of
/// many rows) has no tracked one.
/// </summary>
internal sealed class AuditTrail(AuditScope scope, OAuthDbContext db, TimeProvider clock)
{
    /// <summary>
    /// Adds the audit row of a change the interceptor can't see (a key file, a bulk update) to the unit of work, so
    /// it commits with whatever the caller saves next (its security event, typically).
    /// </summary>
    public void Add(string targetType, string targetId, object changes)
    {
        if (scope.Actor is null || scope.Action is null)
        {
            throw new InvalidOperationException("An audit row is recorded inside an audit scope; begin one first.");
        }

        db.AuditLog.Add(new AuditEntry
        {
            OccurredAt = clock.GetUtcNow().UtcDateTime,
            Actor = scope.Actor,
            Action = scope.Action,
            TargetType = targetType,
            TargetId = targetId,
            Ip = scope.Ip,
            Changes = JsonSerializer.Serialize(changes),
        });
    }

    /// <summary>A bulk change: one row with target <c>*</c> and the counts.</summary>
    public async Task RecordBulkChangeAsync(string targetType, object counts, CancellationToken cancellationToken)
    {
        Add(targetType, "*", new { after = counts });
        await db.SaveChangesAsync(cancellationToken);
    }
}
