using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Observability;

/// <summary>
/// /metrics (login, lockout and replay counts per client) is an operator's view, never the public surface: without
/// Server:ManagementUrls it is served nowhere, and while NATS is away its pending-events gauge shows the real backlog.
/// Each test runs the server binary as its own process, so no other server's meters mix into the scrape.
/// </summary>
public sealed partial class MetricsExposureTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("oauth-metrics-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData("Development")]
    [InlineData("Production")]
    public async Task Without_a_management_url_metrics_answer_404_on_every_spelling_and_the_log_says_how_to_enable_them(string environmentName)
    {
        var baseUri = new Uri($"http://127.0.0.1:{TestPorts.Free()}/");
        await using var server = await ServerProcess.StartAsync(baseUri, Settings(environmentName, baseUri));
        using var http = new HttpClient { BaseAddress = server.BaseUri };

        foreach (var path in new[] { "/metrics", "/METRICS", "/Metrics/", "/metrics?format=prometheus", "/%6Detrics", "//metrics", "/metrics/.", "/./metrics" })
        {
            // An absolute URL: "//metrics" alone would be read as a host name.
            var response = await http.GetAsync(new Uri(server.BaseUri.ToString().TrimEnd('/') + path));
            response.StatusCode.Should().Be(HttpStatusCode.NotFound, path);
            (await response.Content.ReadAsStringAsync()).Should().NotContain("oauth_login_attempts", path);
        }

        // Another loopback address of the same machine is no management URL either.
        using var other = new HttpClient { BaseAddress = new Uri($"http://127.0.0.2:{server.BaseUri.Port}/") };
        try
        {
            (await other.GetAsync("/metrics")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        }
        catch (HttpRequestException)
        {
            // The server listens on 127.0.0.1 only: nothing answers there at all.
        }

        server.Output.Should().Contain("/metrics is not served").And.Contain("Server:ManagementUrls");
    }

    [Fact]
    public async Task While_NATS_is_down_the_pending_gauge_counts_the_events_waiting_in_the_outbox()
    {
        var management = TestPorts.Free();
        var baseUri = new Uri($"http://127.0.0.1:{TestPorts.Free()}/");
        var settings = Settings("Development", baseUri);
        // A NATS URL where nothing listens: the relay can never publish.
        settings["Nats__Url"] = $"nats://127.0.0.1:{TestPorts.Free()}";
        settings["Nats__MaxBackoff"] = "00:00:01";
        settings["Server__ManagementUrls__0"] = $"http://127.0.0.1:{management}";
        await using var server = await ServerProcess.StartAsync(baseUri, settings);
        using var scrape = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{management}/") };

        // Strangers' failed logins, each an event in the outbox.
        const int Failures = 3;
        for (var attempt = 0; attempt < Failures; attempt++)
        {
            var flow = new BrowserFlow(server.BaseUri);
            var page = await flow.FollowAsync("/account/login");
            (await flow.SubmitLoginAsync(page, TestData.NewEmail(), "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        // The outbox as the database has it (the Development seed's events included), and the gauge until it agrees.
        await using var db = new SqliteConnection($"Data Source={Path.Combine(_folder, "Development.db")}");
        await db.OpenAsync();
        await using var count = db.CreateCommand();
        count.CommandText = "SELECT count(*) FROM security_events WHERE PublishedAt IS NULL";
        var unpublished = Convert.ToInt64(await count.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        unpublished.Should().BeGreaterThanOrEqualTo(Failures);
        double pending = 0;
        for (var attempt = 0; attempt < 150 && pending != unpublished; attempt++)
        {
            var match = PendingLine().Match(await scrape.GetStringAsync("/metrics"));
            pending = match.Success ? double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture) : 0;
            if (pending != unpublished)
            {
                await Task.Delay(200);
            }
        }

        pending.Should().Be(unpublished, "the gauge must show the real backlog while delivery is stuck, or its alert never fires");
    }

    private Dictionary<string, string> Settings(string environmentName, Uri baseUri)
    {
        var settings = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = environmentName,
            ["DOTNET_ENVIRONMENT"] = environmentName,
            ["Database__Provider"] = "Sqlite",
            ["ConnectionStrings__OAuthServer"] = $"Data Source={Path.Combine(_folder, environmentName + ".db")}",
            ["Keys__Path"] = Path.Combine(_folder, "keys-" + environmentName),
            ["Logging__LogLevel__Default"] = "Information",
        };
        if (environmentName != "Development")
        {
            // What Production needs to start at all (the database stays unmigrated: /metrics doesn't care).
            foreach (var use in new[] { "signing", "encryption" })
            {
                var folder = Path.Combine(_folder, "keys-" + environmentName, use);
                Directory.CreateDirectory(folder);
                using var rsa = System.Security.Cryptography.RSA.Create(2048);
                File.WriteAllText(Path.Combine(folder, "key.pem"), rsa.ExportPkcs8PrivateKeyPem());
            }

            settings["Server__Issuer"] = "https://login.example.test/";
            settings["Server__RequireHttps"] = "true";
            settings["Server__KnownProxies__0"] = "127.0.0.1";
            settings["DataProtection__CreateCertificateIfMissing"] = "true";
        }
        else
        {
            settings["Server__Issuer"] = baseUri.ToString();
        }

        return settings;
    }

    [GeneratedRegex(@"^oauth_security_events_pending(\{[^}]*\})? (?<value>[0-9.eE+]+)", RegexOptions.Multiline)]
    private static partial Regex PendingLine();
}
