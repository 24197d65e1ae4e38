using Microsoft.EntityFrameworkCore;

namespace OAuthServer.Data;

internal static class DataServiceCollectionExtensions
{
    /// <summary>The SQLite file used when no connection string is configured: no set-up needed.</summary>
    public const string DefaultSqliteConnectionString = "Data Source=data/oauthserver.db";

    public static IHostApplicationBuilder AddOAuthData(this IHostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new();
        var connectionString = builder.Configuration.GetConnectionString("OAuthServer");

        builder.Services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();

        switch (options.Provider)
        {
            case DatabaseProvider.Postgres:
                if (string.IsNullOrWhiteSpace(connectionString))
                {
                    throw new InvalidOperationException(
                        "Database:Provider is Postgres but ConnectionStrings:OAuthServer is not set.");
                }

                connectionString = PooledServerDefaults(connectionString);
                AddPooledContext<PostgresOAuthDbContext>(builder.Services, db => db.UseNpgsql(connectionString));
                builder.Services.AddSingleton(new GroupCommit(connectionString));
                break;

            default:
                connectionString = string.IsNullOrWhiteSpace(connectionString)
                    ? DefaultSqliteConnectionString
                    : connectionString;
                connectionString = AnchorSqliteFile(connectionString, builder.Environment.ContentRootPath);
                AddPooledContext<SqliteOAuthDbContext>(builder.Services, db => db.UseSqlite(connectionString));
                builder.Services.AddSingleton(new GroupCommit(postgresConnectionString: null));
                break;
        }

        // Note: one audit scope per unit of work; the interceptor writes audit rows in the same SaveChanges.
        builder.Services.AddScoped<Admin.AuditScope>();
        builder.Services.AddSingleton<Admin.AuditingInterceptor>();
        builder.Services.AddScoped<Admin.AuditTrail>();
        builder.Services.AddScoped<DatabaseMigrator>();
        return builder;
    }

    // Note: contexts come from a pool, so a request doesn't build the context's options and services anew (a token
    // request's context start-up was ~5 % of its CPU). The pool resets each context's tracked entities and database
    // settings on return; the only state of ours is the audit scope, set from the request's scope at each lease.
    private static void AddPooledContext<TContext>(IServiceCollection services, Action<DbContextOptionsBuilder> provider)
        where TContext : OAuthDbContext
    {
        services.AddPooledDbContextFactory<TContext>((root, db) =>
        {
            provider(db);
            db.AddInterceptors(root.GetRequiredService<Admin.AuditingInterceptor>(), root.GetRequiredService<Protocol.Catalog.CatalogChangeNotifier>());
            db.UseOpenIddict();
        });
        services.AddScoped<OAuthDbContext>(scope =>
        {
            var db = scope.GetRequiredService<IDbContextFactory<TContext>>().CreateDbContext();
            db.Audit = scope.GetRequiredService<Admin.AuditScope>();
            return db;
        });
    }

    // Note: settings for a long-running server that owns its pool, each applied only where the operator's
    // connection string is silent. Without "No Reset On Close", every pooled connection runs DISCARD ALL before its
    // next use: one extra round trip per statement, since EF opens and closes around each. The server sets no
    // session state (no SET, no temporary tables, no advisory locks left held) for a reset to clear. Automatic
    // preparation makes the handful of statements of the token path (client, token, redemption, inserts) server-side
    // prepared after their second use, skipping parse and plan.
    internal static string PooledServerDefaults(string connectionString)
    {
        var npgsql = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        if (!Mentions(connectionString, "No Reset On Close", "NoResetOnClose"))
        {
            npgsql.NoResetOnClose = true;
        }

        if (!Mentions(connectionString, "Max Auto Prepare", "MaxAutoPrepare"))
        {
            npgsql.MaxAutoPrepare = 64;
        }

        return npgsql.ConnectionString;

        static bool Mentions(string connectionString, params string[] keys) =>
            new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
                .Any(key => keys.Any(name => string.Equals(key.Replace(" ", "", StringComparison.Ordinal), name.Replace(" ", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase)));
    }

    // Note: a relative SQLite path is taken from the content root, not the shell's folder, and its folder is
    // created: SQLite creates the file but not its folder, and a fresh clone has no data/. The folder is created
    // 0700 and the file 0600 before SQLite opens it (SQLite gives its journal and WAL files the database file's
    // mode): the file holds password hashes and client secrets' hashes (threat model "DB compromise").
    private static string AnchorSqliteFile(string connectionString, string contentRoot)
    {
        var sqlite = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(sqlite.DataSource) || sqlite.DataSource == ":memory:"
            || sqlite.Mode == Microsoft.Data.Sqlite.SqliteOpenMode.Memory || sqlite.DataSource.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            return connectionString;
        }

        sqlite.DataSource = Path.GetFullPath(sqlite.DataSource, contentRoot);
        OwnerOnlyFiles.CreateDirectory(Path.GetDirectoryName(sqlite.DataSource)!);
        if (sqlite.Mode is Microsoft.Data.Sqlite.SqliteOpenMode.ReadWriteCreate)
        {
            OwnerOnlyFiles.EnsureFile(sqlite.DataSource);
        }

        return sqlite.ToString();
    }
}
