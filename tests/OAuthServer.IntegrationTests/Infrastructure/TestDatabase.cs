using Npgsql;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// A fresh, empty PostgreSQL database on the server ops/test.sh started, dropped on dispose: the only place the
/// tests create databases.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
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

    private static async Task ExecuteOnServerAsync(string sql)
    {
        await using var admin = new NpgsqlConnection(PostgresServer);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(sql, admin);
        await command.ExecuteNonQueryAsync();
    }
}
