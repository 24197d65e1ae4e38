using Microsoft.Playwright;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.E2E;

/// <summary>
/// Everything the browser tests need, over real HTTP on loopback ports: a server of their own, the resource API
/// and two SPA hosts (one for a first-party client, one for an explicit-consent client) as processes, and
/// headless Chromium from the machine (OAUTH_TEST_CHROMIUM, set by ops/test.sh) driven by Playwright.
/// </summary>
public sealed class BrowserSamplesFixture : IAsyncLifetime
{
    /// <summary>Short, so a test sees the access token expire and the SPA refresh it silently.</summary>
    public static readonly TimeSpan AccessTokenLifetime = TimeSpan.FromSeconds(5);

    // Note: a sandbox with no network and no GPU: no sandboxing (the test runs as root in CI), no background
    // traffic to Google, no component or sync downloads, no first-run UI.
    private static readonly string[] ChromiumArgs =
        ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    private readonly List<SampleApp> _apps = [];

    public CustomServer Server { get; private set; } = null!;

    public SampleApp ResourceApi { get; private set; } = null!;

    /// <summary>The SPA of a first-party client (implicit consent, 5-second access tokens).</summary>
    public SampleApp Spa { get; private set; } = null!;

    /// <summary>The same SPA for a third-party client whose users see the consent page.</summary>
    public SampleApp ConsentSpa { get; private set; } = null!;

    public IPlaywright Playwright { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        try
        {
            await StartEverythingAsync();
        }
        catch
        {
            // xunit does not dispose a fixture that failed to start: stop the processes started so far.
            await DisposeAsync();
            throw;
        }
    }

    private async Task StartEverythingAsync()
    {
        var chromium = Environment.GetEnvironmentVariable("OAUTH_TEST_CHROMIUM")
            ?? throw new InvalidOperationException("OAUTH_TEST_CHROMIUM is not set: run the tests through ops/test.sh, which finds Chromium.");

        Server = await CustomServer.StartAsync();
        var spaPort = TestPorts.Free();
        var consentSpaPort = TestPorts.Free();
        var apiPort = TestPorts.Free();

        await Server.RegisterClientAsync(SpaClient("e2e-spa", spaPort, implicitConsent: true));
        await Server.RegisterClientAsync(SpaClient("e2e-consent-spa", consentSpaPort, implicitConsent: false));

        ResourceApi = await StartAsync("ResourceApi", apiPort, new Dictionary<string, string>
        {
            ["ResourceApi:Issuer"] = Server.Issuer.ToString(),
            ["ResourceApi:Audience"] = "api",
            ["ResourceApi:RequiredScope"] = "api",
            ["ResourceApi:AllowedOrigins:0"] = $"http://127.0.0.1:{spaPort}",
            ["ResourceApi:AllowedOrigins:1"] = $"http://127.0.0.1:{consentSpaPort}",
            // An expired token is refused at once, so the SPA's refresh is what keeps the calls working.
            ["ResourceApi:ClockSkew"] = "00:00:00",
        }, "/health");
        Spa = await StartAsync("SpaClient", spaPort, SpaSettings("e2e-spa", apiPort), "/config.json");
        ConsentSpa = await StartAsync("SpaClient", consentSpaPort, SpaSettings("e2e-consent-spa", apiPort), "/config.json");

        // Note: the Playwright package runs its bundled driver; no browser is downloaded, the machine's is used.
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true, Args = ChromiumArgs });
        Assertions.SetDefaultExpectTimeout(30_000);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        Playwright?.Dispose();
        foreach (var app in _apps)
        {
            await app.DisposeAsync();
        }

        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }

    /// <summary>
    /// Runs one browser scenario in a fresh browser context (its own cookies). On failure it saves a screenshot
    /// and the samples' output as test artifacts, and names them in the failure.
    /// </summary>
    public async Task RunAsync(string name, Func<IPage, Task> scenario)
    {
        await using var context = await Browser.NewContextAsync();
        var page = await context.NewPageAsync();
        var console = new List<string>();
        page.Console += (_, message) => console.Add($"[{message.Type}] {message.Text}");
        try
        {
            await scenario(page);
        }
        catch (Exception failure)
        {
            var folder = Environment.GetEnvironmentVariable("OAUTH_TEST_ARTIFACTS") ?? Path.Combine(SampleApp.RepositoryRoot, "TestResults", "e2e");
            Directory.CreateDirectory(folder);
            var screenshot = Path.Combine(folder, $"{name}-{DateTime.UtcNow:yyyyMMdd-HHmmss}.png");
            await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
            await File.WriteAllTextAsync(Path.ChangeExtension(screenshot, ".log"),
                $"URL: {page.Url}\n--- browser console ---\n{string.Join('\n', console)}\n--- SPA ---\n{Spa.Output}\n--- resource API ---\n{ResourceApi.Output}");
            throw new InvalidOperationException($"Browser scenario '{name}' failed at {page.Url}; screenshot: {screenshot}. {failure.Message}", failure);
        }
    }

    private async Task<SampleApp> StartAsync(string project, int port, Dictionary<string, string> settings, string readyPath)
    {
        var app = await SampleApp.StartAsync(project, port, settings, readyPath);
        _apps.Add(app);
        return app;
    }

    private Dictionary<string, string> SpaSettings(string clientId, int apiPort) => new()
    {
        ["Spa:Authority"] = Server.Issuer.ToString(),
        ["Spa:ClientId"] = clientId,
        ["Spa:ApiUrl"] = $"http://127.0.0.1:{apiPort}/api/hello",
    };

    private static ClientRegistration SpaClient(string clientId, int port, bool implicitConsent) => new()
    {
        ClientId = clientId,
        DisplayName = implicitConsent ? "E2E SPA" : "E2E third-party SPA",
        Kind = ClientKind.Public,
        RedirectUris = [$"http://127.0.0.1:{port}/callback"],
        PostLogoutRedirectUris = [$"http://127.0.0.1:{port}/"],
        Scopes = ["openid", "profile", "email", "offline_access", "api"],
        ImplicitConsent = implicitConsent,
        AccessTokenLifetime = AccessTokenLifetime,
    };
}
