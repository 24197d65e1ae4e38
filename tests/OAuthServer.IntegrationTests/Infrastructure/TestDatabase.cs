using Npgsql;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>A fresh, empty PostgreSQL database on the server ops/test.sh started, dropped on dispose.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly string _name;

    private TestDatabase(string name)
    {
        _name = name;
        ConnectionString = new NpgsqlConnectionStringBuilder(OAuthServerFactory.PostgresServer) { Database = name }.ConnectionString;
    }

    public string Name => _name;

    public string ConnectionString { get; }

    /// <summary>Creates <c>{prefix}_{random}</c>; nothing in it, not even the migrations' history table.</summary>
    public static async Task<TestDatabase> CreateAsync(string prefix)
    {
        var database = new TestDatabase($"{prefix}_{Guid.NewGuid():N}");
        await ExecuteOnServerAsync($"CREATE DATABASE \"{database._name}\"");
        return database;
    }

    public async ValueTask DisposeAsync()
    {
        // Note: pooled connections to the database would keep it from being dropped.
        NpgsqlConnection.ClearAllPools();
        await ExecuteOnServerAsync($"DROP DATABASE IF EXISTS \"{_name}\" WITH (FORCE)");
    }

    private static async Task ExecuteOnServerAsync(string sql)
    {
        await using var admin = new NpgsqlConnection(OAuthServerFactory.PostgresServer);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(sql, admin);
        await command.ExecuteNonQueryAsync();
    }
}
