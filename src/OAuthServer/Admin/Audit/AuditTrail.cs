using System.Text.Json;
using OAuthServer.Data;

namespace OAuthServer.Admin;

/// <summary>
/// Writes the audit rows that <see cref="AuditingInterceptor"/> can't see: a bulk change (a set-based update of
/// many rows) has no tracked entity, so it is recorded as one row with target <c>*</c> and the counts, under the
/// actor and action of the current <see cref="AuditScope"/> (threat model 3.3).
/// </summary>
internal sealed class AuditTrail(AuditScope scope, OAuthDbContext db, TimeProvider clock)
{
    public async Task RecordBulkChangeAsync(string targetType, object counts, CancellationToken cancellationToken)
    {
        if (scope.Actor is null || scope.Action is null)
        {
            throw new InvalidOperationException("A bulk change is recorded inside an audit scope; begin one first.");
        }

        db.AuditLog.Add(new AuditEntry
        {
            OccurredAt = clock.GetUtcNow().UtcDateTime,
            Actor = scope.Actor,
            Action = scope.Action,
            TargetType = targetType,
            TargetId = "*",
            Ip = scope.Ip,
            Changes = JsonSerializer.Serialize(new { after = counts }),
        });
        await db.SaveChangesAsync(cancellationToken);
    }
}
