using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using OpenIddict.EntityFrameworkCore.Models;

namespace OAuthServer.Protocol.Catalog;

/// <summary>
/// Tells every node that a client or scope changed: each SaveChanges that adds, updates or deletes one invalidates
/// this node's <see cref="CatalogCache"/> and, on PostgreSQL, sends a notification on <see cref="Channel"/>.
/// </summary>
/// <remarks>
/// Note: inside a transaction the notification is sent before the rows are written and PostgreSQL delivers it when
/// the transaction commits (never if it rolls back), so no node can re-read the old rows after hearing of the change.
/// Without one, SaveChanges commits on its own and the notification follows the commit.
/// </remarks>
internal sealed class CatalogChangeNotifier(CatalogCache catalog) : SaveChangesInterceptor
{
    public const string Channel = "oauthserver_catalog";

    private static readonly ConditionalWeakTable<DbContext, object> NotifyAfterSave = [];

    public override async ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } db && NotifyBeforeSave(db))
        {
            await NotifyAsync(db, cancellationToken);
        }

        return result;
    }

    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        if (eventData.Context is { } db && NotifyBeforeSave(db))
        {
            Notify(db);
        }

        return result;
    }

    public override async ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } db && NotifyAfterSaveIsDue(db))
        {
            // Note: the rows are committed: the change must be announced even if the caller has stopped waiting.
            await NotifyAsync(db, CancellationToken.None);
        }

        return result;
    }

    public override int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        if (eventData.Context is { } db && NotifyAfterSaveIsDue(db))
        {
            Notify(db);
        }

        return result;
    }

    public override Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        SaveChangesFailed(eventData);
        return Task.CompletedTask;
    }

    public override void SaveChangesFailed(DbContextErrorEventData eventData) => Forget(eventData.Context);

    // Note: contexts are pooled, so a pending notification of a save that never finished must not wait for the
    // next request that leases the same context.
    public override Task SaveChangesCanceledAsync(DbContextEventData eventData, CancellationToken cancellationToken = default)
    {
        Forget(eventData.Context);
        return Task.CompletedTask;
    }

    public override void SaveChangesCanceled(DbContextEventData eventData) => Forget(eventData.Context);

    private static void Forget(DbContext? db)
    {
        if (db is not null)
        {
            NotifyAfterSave.Remove(db);
        }
    }

    // True when the notification goes now: inside the caller's transaction, which delivers it at commit. Otherwise
    // it is kept for after the save, when SaveChanges has committed on its own.
    private bool NotifyBeforeSave(DbContext db)
    {
        if (!TouchesCatalog(db))
        {
            return false;
        }

        // Note: this node forgets at once; the notification (which this node hears too) covers the reads that
        // start between now and the commit.
        catalog.Invalidate();
        if (db.Database.CurrentTransaction is not null)
        {
            return true;
        }

        NotifyAfterSave.AddOrUpdate(db, this);
        return false;
    }

    private bool NotifyAfterSaveIsDue(DbContext db)
    {
        if (!NotifyAfterSave.Remove(db))
        {
            return false;
        }

        catalog.Invalidate();
        return true;
    }

    // Note: only the catalog's own entries are scanned for changes (a property changed on a tracked client still
    // counts); the token rows and everything else a request tracks are not.
    private static bool TouchesCatalog(DbContext db) => Data.TrackedEntries.All(db)
        .Where(entry => entry.Entity is OpenIddictEntityFrameworkCoreApplication or OpenIddictEntityFrameworkCoreScope)
        .Any(entry =>
        {
            entry.DetectChanges();
            return entry.State is EntityState.Added or EntityState.Modified or EntityState.Deleted;
        });

    private const string NotifySql = $"SELECT pg_notify('{Channel}', 'changed')";

    private static async Task NotifyAsync(DbContext db, CancellationToken cancellationToken)
    {
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlRawAsync(NotifySql, cancellationToken);
        }
    }

    private static void Notify(DbContext db)
    {
        if (db.Database.IsNpgsql())
        {
            db.Database.ExecuteSqlRaw(NotifySql);
        }
    }
}
