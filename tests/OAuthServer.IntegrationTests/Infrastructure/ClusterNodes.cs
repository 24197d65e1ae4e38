using System.Collections.Concurrent;
using System.Diagnostics;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// A two-node cluster: the server binary runs twice, as two processes on their own loopback ports, sharing one
/// PostgreSQL database, one Redis, one NATS JetStream and one key folder, with one public issuer (node A's
/// URL, as a load balancer would present it). Both share the state tests need to see across nodes.
/// </summary>
public sealed class ClusterNodes : IAsyncLifetime, IAsyncDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("oauth-cluster-").FullName;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly List<Process> _processes = [];
    private readonly RedisTestServer _redis = new();
    private readonly NatsTestServer _nats = new();
    private TestDatabase? _database;
    private bool _disposed;

    public Uri A { get; private set; } = null!;

    public Uri B { get; private set; } = null!;

    public string ConnectionString { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        await _redis.StartAsync();
        await _nats.StartAsync();
        _database = await TestDatabase.CreateMigratedAsync("oauth_cluster");
        ConnectionString = _database.ConnectionString;
        var portA = TestPorts.Free();
        A = new Uri($"http://127.0.0.1:{portA}/");
        // Node A first: it creates the shared keys (and seeds); B then finds them.
        await StartNodeAsync(portA);
        var portB = TestPorts.Free();
        B = new Uri($"http://127.0.0.1:{portB}/");
        await StartNodeAsync(portB);
    }

    public async Task DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        await _redis.DisposeAsync();
        await _nats.DisposeAsync();
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        Directory.Delete(_folder, recursive: true);
    }

    async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();

    /// <summary>Runs a CLI verb (users, clients) against the shared database, with <paramref name="stdin"/> piped in.</summary>
    public async Task<int> RunCliAsync(string[] args, string stdin) => (await RunCliWithOutputAsync(args, stdin)).ExitCode;

    /// <summary>As <see cref="RunCliAsync"/>, with what the verb wrote.</summary>
    public Task<(int ExitCode, string Output, string Error)> RunCliWithOutputAsync(string[] args, string stdin) =>
        ServerBinary.RunAsync(args, Environment(A), stdin + "\n");

    public static HttpClient Api(Uri node) => new(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = node };

    private Dictionary<string, string> Environment(Uri node) => new()
    {
        ["ASPNETCORE_ENVIRONMENT"] = "Development",
        ["ASPNETCORE_URLS"] = node.ToString().TrimEnd('/'),
        ["Database__Provider"] = "Postgres",
        ["ConnectionStrings__OAuthServer"] = ConnectionString,
        ["Server__Issuer"] = A.ToString(),
        ["Keys__Path"] = Path.Combine(_folder, "keys"),
        ["Redis__Configuration"] = _redis.Configuration,
        ["Nats__Url"] = _nats.Url,
        ["Argon2__AcquireTimeout"] = "00:00:30",
        ["Admin__BootstrapClientSecret"] = AdminSecret,
    };

    /// <summary>Both nodes bootstrap the same admin client from the same configured secret.</summary>
    public const string AdminSecret = "cluster-admin-bootstrap-secret-0123456789";

    private async Task StartNodeAsync(int port)
    {
        var node = new Uri($"http://127.0.0.1:{port}/");
        _processes.Add(await ServerBinary.ServeAsync(node, Environment(node), _lines));
    }

}
