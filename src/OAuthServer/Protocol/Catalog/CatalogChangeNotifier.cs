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
        if (eventData.Context is { } db && TouchesCatalog(db))
        {
            if (db.Database.CurrentTransaction is not null)
            {
                await NotifyAsync(db, cancellationToken);
            }
            else
            {
                NotifyAfterSave.AddOrUpdate(db, this);
            }

            // Note: this node forgets at once; the notification (which this node hears too) covers the reads that
            // start between now and the commit.
            catalog.Invalidate();
        }

        return result;
    }

    public override async ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } db && NotifyAfterSave.Remove(db))
        {
            catalog.Invalidate();
            // Note: the rows are committed: the change must be announced even if the caller has stopped waiting.
            await NotifyAsync(db, CancellationToken.None);
        }

        return result;
    }

    public override Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } db)
        {
            NotifyAfterSave.Remove(db);
        }

        return Task.CompletedTask;
    }

    // Note: the synchronous SaveChanges is not used by the server; should anything call it, the cache is bypassed
    // for correctness rather than left stale: invalidate here, and the listener's own check covers other nodes.
    public override InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        if (eventData.Context is { } db && TouchesCatalog(db))
        {
            catalog.Invalidate();
            if (db.Database.IsNpgsql())
            {
                db.Database.ExecuteSqlRaw($"SELECT pg_notify('{Channel}', 'changed')");
            }
        }

        return result;
    }

    private static bool TouchesCatalog(DbContext db) => db.ChangeTracker.Entries()
        .Any(entry => entry.Entity is OpenIddictEntityFrameworkCoreApplication or OpenIddictEntityFrameworkCoreScope
            && entry.State is EntityState.Added or EntityState.Modified or EntityState.Deleted);

    private static async Task NotifyAsync(DbContext db, CancellationToken cancellationToken)
    {
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlRawAsync($"SELECT pg_notify('{Channel}', 'changed')", cancellationToken);
        }
    }
}
