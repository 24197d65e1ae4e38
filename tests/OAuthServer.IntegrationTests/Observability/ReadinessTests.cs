using System.Net;
using System.Security.Cryptography;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Observability;

/// <summary>
/// Readiness tells the truth about the schema: a Production node on a database that was never migrated can't sign
/// anyone in (every login is a 500), so it must not be sent traffic.
/// </summary>
public sealed class ReadinessTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("oauth-ready-").FullName;
    private TestDatabase? _database;

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync("oauth_ready");

    public async Task DisposeAsync()
    {
        await _database!.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task A_Production_node_on_an_unmigrated_database_is_not_ready_and_says_why_until_migrate_runs()
    {
        var environment = ProductionEnvironment();
        await using var server = await ServerProcess.StartAsync(new Uri($"http://127.0.0.1:{TestPorts.Free()}/"), environment);
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        var probe = await http.GetAsync("/health/ready");
        probe.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable, "the database answers, but has none of this build's tables");
        var reason = await probe.Content.ReadAsStringAsync();
        reason.Should().StartWith("Unhealthy").And.Contain("migrations:").And.Contain("not applied").And.Contain("migrate");
        reason.Should().NotContain(_database!.Name, "the reason names no connection detail");
        (await http.GetAsync("/health/live")).StatusCode.Should().Be(HttpStatusCode.OK, "the process itself is fine: restarting it would not help");
        // Every spelling of the probe gives the same answer.
        (await http.GetAsync("/HEALTH/Ready/")).StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);

        var migrate = await ServerBinary.RunAsync(["migrate"], environment);
        migrate.ExitCode.Should().Be(0, migrate.Error);

        var ready = HttpStatusCode.ServiceUnavailable;
        for (var attempt = 0; attempt < 100 && ready != HttpStatusCode.OK; attempt++)
        {
            ready = (await http.GetAsync("/health/ready")).StatusCode;
            await Task.Delay(ready == HttpStatusCode.OK ? 0 : 100);
        }

        ready.Should().Be(HttpStatusCode.OK, "once migrated the same node is ready, without a restart");
        (await http.GetStringAsync("/health/ready")).Should().Be("Healthy");
    }

    private Dictionary<string, string> ProductionEnvironment()
    {
        var keys = Path.Combine(_folder, "keys");
        foreach (var use in new[] { "signing", "encryption" })
        {
            Directory.CreateDirectory(Path.Combine(keys, use));
            using var rsa = RSA.Create(2048);
            File.WriteAllText(Path.Combine(keys, use, "key.pem"), rsa.ExportPkcs8PrivateKeyPem());
        }

        return new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__OAuthServer"] = _database!.ConnectionString,
            ["Server__Issuer"] = "https://login.example.test/",
            ["Server__RequireHttps"] = "true",
            ["Server__KnownProxies__0"] = "127.0.0.1",
            ["Keys__Path"] = keys,
            ["DataProtection__CreateCertificateIfMissing"] = "true",
        };
    }
}
