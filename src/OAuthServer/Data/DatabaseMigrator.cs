using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace OAuthServer.Data;

/// <summary>Applies the current provider's migrations. Used by the <c>migrate</c> verb and by Development start-up.</summary>
internal sealed partial class DatabaseMigrator(OAuthDbContext db, ILogger<DatabaseMigrator> logger)
{
    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken cancellationToken = default)
    {
        // Note: EF Core reads the history table by trying it and catching the failure, which it logs at Error
        // level ("Failed executing DbCommand") on a fresh database, once here and once inside MigrateAsync. The
        // table is created first (as MigrateAsync would), so a clean first migrate logs no error, and an error in
        // a deployment log always means something went wrong.
        await db.GetService<IHistoryRepository>().CreateIfNotExistsAsync(cancellationToken);
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count == 0)
        {
            LogUpToDate(logger);
            return pending;
        }

        LogApplying(logger, pending.Count, pending);
        await db.Database.MigrateAsync(cancellationToken);
        return pending;
    }

    /// <summary>
    /// The migrations of this build not yet applied to the database, read without changing it: a database without a
    /// history table has all of them pending (and no failed query is logged for it).
    /// </summary>
    public static async Task<IReadOnlyList<string>> PendingAsync(OAuthDbContext db, CancellationToken cancellationToken)
    {
        if (!await db.GetService<IHistoryRepository>().ExistsAsync(cancellationToken))
        {
            return [.. db.Database.GetMigrations()];
        }

        return [.. await db.Database.GetPendingMigrationsAsync(cancellationToken)];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Database schema is up to date")]
    private static partial void LogUpToDate(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Applying {Count} migration(s): {Migrations}")]
    private static partial void LogApplying(ILogger logger, int count, IReadOnlyList<string> migrations);
}
