using Microsoft.EntityFrameworkCore;
using Npgsql;
using OAuthServer.Data;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// A PostgreSQL database of its own on the server ops/test.sh started, dropped on dispose: the only place the tests
/// create databases. Either empty, or a copy of the current schema (what a Development start would migrate to).
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    // Note: copying a migrated template is a file copy inside PostgreSQL; running every migration again for each of
    // the suite's databases costs far more. PostgreSQL refuses to copy a database another session is connected to,
    // so copies are made one at a time and nothing ever connects to the template after it is built.
    private static readonly SemaphoreSlim Copying = new(1, 1);
    private static readonly Lazy<Task<string>> Template = new(CreateTemplateAsync);

    private readonly string _name;
    private bool _dropped;

    private TestDatabase(string name)
    {
        _name = name;
        ConnectionString = ConnectionStringFor(name);
    }

    public string Name => _name;

    public string ConnectionString { get; }

    /// <summary>The PostgreSQL server ops/test.sh started (role "oauth" may create databases).</summary>
    public static string PostgresServer => Environment.GetEnvironmentVariable("OAUTH_TEST_POSTGRES")
        ?? throw new InvalidOperationException("OAUTH_TEST_POSTGRES is not set: run the tests through ops/test.sh, which starts PostgreSQL.");

    /// <summary>Creates <c>{prefix}_{random}</c>; nothing in it, not even the migrations' history table.</summary>
    public static async Task<TestDatabase> CreateAsync(string prefix)
    {
        var database = new TestDatabase(NewName(prefix));
        await ExecuteOnServerAsync($"CREATE DATABASE \"{database._name}\"");
        return database;
    }

    /// <summary>
    /// Creates <c>{prefix}_{random}</c> with every migration of this build applied and no rows: the server finds
    /// its schema up to date and seeds (in Development) as on any migrated database.
    /// </summary>
    public static async Task<TestDatabase> CreateMigratedAsync(string prefix)
    {
        var template = await Template.Value;
        var database = new TestDatabase(NewName(prefix));
        await Copying.WaitAsync();
        try
        {
            await ExecuteOnServerAsync($"CREATE DATABASE \"{database._name}\" TEMPLATE \"{template}\"");
        }
        finally
        {
            Copying.Release();
        }

        return database;
    }

    public async ValueTask DisposeAsync()
    {
        if (_dropped)
        {
            return;
        }

        _dropped = true;
        // Note: pooled connections to the database would keep it from being dropped.
        NpgsqlConnection.ClearAllPools();
        await ExecuteOnServerAsync($"DROP DATABASE IF EXISTS \"{_name}\" WITH (FORCE)");
    }

    private static string NewName(string prefix) => $"{prefix}_{Guid.NewGuid():N}";

    private static string ConnectionStringFor(string name) =>
        new NpgsqlConnectionStringBuilder(PostgresServer) { Database = name }.ConnectionString;

    private static async Task<string> CreateTemplateAsync()
    {
        var name = NewName("oauth_template");
        await ExecuteOnServerAsync($"CREATE DATABASE \"{name}\"");
        // Pooling off: no idle connection may stay on the template, or PostgreSQL refuses to copy it.
        var connectionString = new NpgsqlConnectionStringBuilder(ConnectionStringFor(name)) { Pooling = false }.ConnectionString;
        var options = new DbContextOptionsBuilder<PostgresOAuthDbContext>().UseNpgsql(connectionString).UseOpenIddict().Options;
        await using (var db = new PostgresOAuthDbContext(options))
        {
            await db.Database.MigrateAsync();
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => DropQuietly(name);
        return name;
    }

    private static void DropQuietly(string name)
    {
        try
        {
            using var admin = new NpgsqlConnection(PostgresServer);
            admin.Open();
            using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", admin);
            command.ExecuteNonQuery();
        }
        catch (NpgsqlException)
        {
            // The PostgreSQL of ops/test.sh may already be gone; it is thrown away with everything in it.
        }
    }

    private static async Task ExecuteOnServerAsync(string sql)
    {
        await using var admin = new NpgsqlConnection(PostgresServer);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(sql, admin);
        await command.ExecuteNonQueryAsync();
    }
}
