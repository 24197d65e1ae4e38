using Microsoft.Playwright;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Pages;

/// <summary>
/// A server with the sign-in limits on (behind a trusted proxy on 127.0.0.1, so each browser context can be a
/// different source address through X-Forwarded-For), two presented clients, and headless Chromium
/// (OAUTH_TEST_CHROMIUM) with axe-core (OAUTH_TEST_AXE_CORE) from ops/test.sh.
/// </summary>
public sealed class PagesBrowserFixture : IAsyncLifetime
{
    /// <summary>Phone (an iPhone 12-class screen) and desktop.</summary>
    public static readonly (int Width, int Height)[] Viewports = [(390, 844), (1280, 800)];

    public const string FirstPartyName = "Photo Album";
    public const string ThirdPartyName = "Travel Planner";

    private static readonly string[] ChromiumArgs =
        ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    private int _nextAddress;

    public CustomServer Server { get; private set; } = null!;

    public (string ClientId, string RedirectUri) FirstParty { get; private set; }

    public (string ClientId, string RedirectUri) ThirdParty { get; private set; }

    public IPlaywright Playwright { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public string AxeSource { get; private set; } = null!;

    /// <summary>Where the screenshots go: TestResults/screens under the test assembly's output folder.</summary>
    public static string ScreensFolder => Path.Combine(AppContext.BaseDirectory, "TestResults", "screens");

    public async Task InitializeAsync()
    {
        var chromium = Environment.GetEnvironmentVariable("OAUTH_TEST_CHROMIUM")
            ?? throw new InvalidOperationException("OAUTH_TEST_CHROMIUM is not set: run the tests through ops/test.sh, which finds Chromium.");
        var axe = Environment.GetEnvironmentVariable("OAUTH_TEST_AXE_CORE")
            ?? throw new InvalidOperationException("OAUTH_TEST_AXE_CORE is not set: run the tests through ops/test.sh, which installs axe-core.");
        AxeSource = await File.ReadAllTextAsync(axe);
        // Note: with mail, so the password-reset pages are the ones a person sees when reset is available.
        Server = await CustomServer.StartAsync(Accounts.Recovery.TestMailbox.Settings(new()
        {
            ["RateLimiting:Enabled"] = "true",
            ["RateLimiting:LoginPerIp:PermitLimit"] = "3",
            ["Server:KnownProxies:0"] = "127.0.0.1",
            ["Branding:SupportUrl"] = "https://help.example/",
        }));
        // The callback ports are never listened on: the tests answer the client's redirect in the browser.
        FirstParty = await Server.CreatePresentedClientAsync(FirstPartyName, null, "https://photos.example/", implicitConsent: true,
            redirectUri: $"http://127.0.0.1:{TestPorts.Free()}/callback");
        ThirdParty = await Server.CreatePresentedClientAsync(ThirdPartyName, null, "https://travel.example/", implicitConsent: false,
            redirectUri: $"http://127.0.0.1:{TestPorts.Free()}/callback");
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true, Args = ChromiumArgs });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        Playwright?.Dispose();
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }

    /// <summary>A fresh context (own cookies) from its own documentation address, speaking the given language.</summary>
    public async Task<IBrowserContext> NewContextAsync(string language, (int Width, int Height) viewport, bool bypassCsp = false)
    {
        var address = Interlocked.Increment(ref _nextAddress);
        var context = await Browser.NewContextAsync(new()
        {
            Locale = language,
            ViewportSize = new() { Width = viewport.Width, Height = viewport.Height },
            BypassCSP = bypassCsp,
            BaseURL = Server.Issuer.ToString(),
            ExtraHTTPHeaders = new Dictionary<string, string>
            {
                ["X-Forwarded-For"] = $"198.51.{address / 250}.{address % 250 + 1}",
                ["Accept-Language"] = language,
            },
        });
        // Note: Playwright's own default for actions, as the assertions have (Infrastructure/BrowserExpectations): on two
        // shared cores a sign-in's Argon2 check and redirects can take longer than 15 s (a page test's wait ran out at 15 s in CI).
        context.SetDefaultTimeout(30_000);
        return context;
    }

    public static string AuthorizeUrl((string ClientId, string RedirectUri) client) =>
        BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(client.ClientId, client.RedirectUri, Pkce.Create()));
}
