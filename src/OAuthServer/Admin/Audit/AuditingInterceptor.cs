using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Diagnostics;
using OAuthServer.Accounts;
using OpenIddict.EntityFrameworkCore.Models;

namespace OAuthServer.Admin;

/// <summary>
/// Who is acting in this unit of work. The admin API, dynamic registration and the CLI set it; while it is set,
/// every change they save to a user or a client is written to the audit log by <see cref="AuditingInterceptor"/>.
/// </summary>
internal sealed class AuditScope
{
    public string? Actor { get; private set; }

    /// <summary>The action, or null to name each change by what happened to its target (<c>client.created</c>...).</summary>
    public string? Action { get; private set; }

    public string? Ip { get; private set; }

    public void Begin(string actor, string? action, string? ip)
    {
        Actor = actor;
        Action = action;
        Ip = ip;
    }
}

/// <summary>
/// One mechanism for the whole audit trail (threat model 3.3): just before a unit of work saves, each change to
/// a user or a client becomes an <see cref="AuditEntry"/> in the same SaveChanges, so in the same transaction.
/// Secrets never enter it: password hashes, client secrets and security stamps are left out by name (a change
/// to one is recorded by its name only). Audit
/// rows can only be appended: EF refuses to save a changed one, this interceptor refuses a deleted one, and the
/// migration adds a database trigger that refuses updates.
/// </summary>
internal sealed class AuditingInterceptor(TimeProvider clock) : SaveChangesInterceptor
{
    private static readonly string[] SecretNameParts = ["secret", "password", "hash", "stamp", "concurrency"];

    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        RecordAsync(eventData.Context, async: false, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return result;
    }

    public override async ValueTask<InterceptionResult<int>> SavingChangesAsync(
        DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        await RecordAsync(eventData.Context, async: true, cancellationToken);
        return result;
    }

    private async ValueTask RecordAsync(DbContext? context, bool async, CancellationToken cancellationToken)
    {
        if (context is null)
        {
            return;
        }

        // Note: a changed audit property is refused by EF itself (PropertySaveBehavior.Throw); a removal is refused here.
        if (Data.TrackedEntries.Of<AuditEntry>(context).Any(entry => entry.State == EntityState.Deleted))
        {
            throw new InvalidOperationException("The audit log is append-only.");
        }

        // Note: the token endpoint saves often and has no actor; it pays for nothing more than the check above.
        if (context is not Data.OAuthDbContext { Audit: { Actor: not null } scope })
        {
            return;
        }

        context.ChangeTracker.DetectChanges();
        var entries = context.ChangeTracker.Entries().ToList();

        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var entry in entries)
        {
            if (entry.State is not (EntityState.Added or EntityState.Modified or EntityState.Deleted) || Target(entry) is not { } target)
            {
                continue;
            }

            // Note: OpenIddict's stores attach and update detached entities, so the tracker's "original" values
            // may be the new ones; for an update, the row as stored is the only trustworthy "before".
            var stored = entry.State == EntityState.Modified
                ? async ? await entry.GetDatabaseValuesAsync(cancellationToken) : entry.GetDatabaseValues()
                : null;
            var (before, after, secrets) = Diff(entry, stored);
            if (entry.State == EntityState.Modified && before.Count == 0 && secrets.Count == 0)
            {
                continue;
            }

            context.Add(new AuditEntry
            {
                OccurredAt = now,
                Actor = scope.Actor,
                Action = scope.Action ?? $"{target.Type}.{PastTense(entry.State)}",
                TargetType = target.Type,
                TargetId = target.Id,
                Ip = scope.Ip,
                // Note: a changed secret is named, never shown: "secrets_changed": ["ClientSecret"].
                Changes = JsonSerializer.Serialize(new { before, after, secrets_changed = secrets }),
            });
        }
    }

    // Note: the security events' vocabulary: client.created, client.updated, user.deleted...
    private static string PastTense(EntityState state) => state switch
    {
        EntityState.Added => "created",
        EntityState.Deleted => "deleted",
        _ => "updated",
    };

    private static (string Type, string Id)? Target(EntityEntry entry) => entry.Entity switch
    {
        User user => ("user", user.Id.ToString()),
        OpenIddictEntityFrameworkCoreApplication application => ("client", application.ClientId ?? application.Id ?? "?"),
        OpenIddictEntityFrameworkCoreScope scope => ("scope", scope.Name ?? scope.Id ?? "?"),
        _ => null,
    };

    private static (Dictionary<string, object?> Before, Dictionary<string, object?> After, List<string> Secrets) Diff(EntityEntry entry, PropertyValues? stored)
    {
        var before = new Dictionary<string, object?>(StringComparer.Ordinal);
        var after = new Dictionary<string, object?>(StringComparer.Ordinal);
        var secrets = new List<string>();
        foreach (var property in entry.Properties)
        {
            var name = property.Metadata.Name;
            var original = stored is null ? property.OriginalValue : stored[property.Metadata];
            if (SecretNameParts.Any(part => name.Contains(part, StringComparison.OrdinalIgnoreCase)))
            {
                if (entry.State == EntityState.Modified && !Equals(original, property.CurrentValue)
                    && !name.Contains("concurrency", StringComparison.OrdinalIgnoreCase))
                {
                    secrets.Add(name);
                }

                continue;
            }

            switch (entry.State)
            {
                case EntityState.Added:
                    after[name] = property.CurrentValue;
                    break;
                case EntityState.Deleted:
                    before[name] = original;
                    break;
                case EntityState.Modified when !Equals(original, property.CurrentValue):
                    before[name] = original;
                    after[name] = property.CurrentValue;
                    break;
            }
        }

        return (before, after, secrets);
    }
}
