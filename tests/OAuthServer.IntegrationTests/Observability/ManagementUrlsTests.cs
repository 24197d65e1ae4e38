using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Observability;

/// <summary>
/// <c>Server:ManagementUrls</c>, as an operator runs it: the server binary as a process, on a public and a
/// management port. <c>/metrics</c> answers only on the management port, whatever the Host header says, and the
/// management port answers only <c>/metrics</c> and the health probes.
/// </summary>
public sealed class ManagementUrlsTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("oauth-mgmt-").FullName;
    private readonly ConcurrentQueue<string> _lines = new();
    private Process? _server;
    private Uri _public = null!;
    private Uri _management = null!;

    public async Task InitializeAsync()
    {
        _public = new Uri($"http://127.0.0.1:{TestPorts.Free()}/");
        _management = new Uri($"http://127.0.0.1:{TestPorts.Free()}/");

        _server = await ServerBinary.ServeAsync(_public, new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_URLS"] = _public.ToString().TrimEnd('/'),
            ["Server__ManagementUrls__0"] = _management.ToString().TrimEnd('/'),
            ["Server__Issuer"] = _public.ToString(),
            ["Database__Provider"] = "Sqlite",
            ["ConnectionStrings__OAuthServer"] = $"Data Source={Path.Combine(_folder, "oauth.db")}",
            ["Keys__Path"] = Path.Combine(_folder, "keys"),
        }, _lines);
    }

    public async Task DisposeAsync()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync();
        }

        _server?.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task Metrics_answer_only_on_the_management_url_whatever_the_Host_header()
    {
        using var publicClient = new HttpClient { BaseAddress = _public };
        using var managementClient = new HttpClient { BaseAddress = _management };

        var scrape = await managementClient.GetAsync("/metrics");
        scrape.StatusCode.Should().Be(HttpStatusCode.OK);
        (await scrape.Content.ReadAsStringAsync()).Should().Contain("oauth_login_attempts_total");

        (await publicClient.GetAsync("/metrics")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        spoofed.Headers.Host = _management.Authority;
        (await publicClient.SendAsync(spoofed)).StatusCode.Should().Be(HttpStatusCode.NotFound, "the port the connection arrived on decides, not the Host header");
    }

    [Fact]
    public async Task The_management_url_serves_the_health_probes_and_nothing_of_the_public_surface()
    {
        using var publicClient = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _public };
        using var managementClient = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _management };

        foreach (var probe in new[] { "/health/live", "/health/ready" })
        {
            (await managementClient.GetAsync(probe)).StatusCode.Should().Be(HttpStatusCode.OK, probe);
            (await publicClient.GetAsync(probe)).StatusCode.Should().Be(HttpStatusCode.OK, probe);
        }

        foreach (var path in new[] { "/.well-known/openid-configuration", "/account/login", "/" })
        {
            (await managementClient.GetAsync(path)).StatusCode.Should().Be(HttpStatusCode.NotFound, path);
        }

        (await publicClient.GetAsync("/.well-known/openid-configuration")).StatusCode.Should().Be(HttpStatusCode.OK);
    }
}
