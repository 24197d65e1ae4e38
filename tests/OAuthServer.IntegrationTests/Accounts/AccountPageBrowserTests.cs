using System.Net;
using Microsoft.Playwright;
using OAuthServer.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>A server of its own on a loopback port and headless Chromium (OAUTH_TEST_CHROMIUM, set by ops/test.sh).</summary>
public sealed class AccountPageBrowserFixture : IAsyncLifetime
{
    // Note: as in E2E/BrowserSamplesFixture: no sandbox (root in CI), no GPU, no background traffic.
    private static readonly string[] ChromiumArgs =
        ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    public CustomServer Server { get; private set; } = null!;

    public IPlaywright Playwright { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var chromium = Environment.GetEnvironmentVariable("OAUTH_TEST_CHROMIUM")
            ?? throw new InvalidOperationException("OAUTH_TEST_CHROMIUM is not set: run the tests through ops/test.sh, which finds Chromium.");
        Server = await CustomServer.StartAsync();
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true, Args = ChromiumArgs });
        SetDefaultExpectTimeout(30_000);
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
}

/// <summary>The account page as a person uses it, in headless Chromium.</summary>
public sealed class AccountPageBrowserTests(AccountPageBrowserFixture fixture) : IClassFixture<AccountPageBrowserFixture>
{
    [Fact]
    public async Task A_person_signs_in_to_the_account_page_revokes_an_app_and_changes_the_password()
    {
        var server = fixture.Server;
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        using var api = server.CreateApiClient();
        var refreshToken = (await (await SignedIn.ForAsync(server, email, clientId, redirectUri)).RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        const string newPassword = "a-new-passphrase-typed-in-chromium";

        await using var context = await fixture.Browser.NewContextAsync();
        var page = await context.NewPageAsync();
        try
        {
            await page.GotoAsync(new Uri(server.Issuer, "/account").ToString());
            await Expect(page.Locator("#email")).ToBeVisibleAsync();
            await page.FillAsync("#email", email);
            await page.FillAsync("#password", TestData.Password);
            await page.ClickAsync("button[type=submit]");

            await Expect(page).ToHaveURLAsync(new Uri(server.Issuer, "/account").ToString());
            await Expect(page.Locator("h1")).ToHaveTextAsync("Your account");
            // Note: two sessions: the app's sign-in above (over HTTP) and this browser's.
            await Expect(page.Locator("li.session")).ToHaveCountAsync(2);
            await Expect(page.Locator(".this-session")).ToHaveTextAsync("This browser");
            var app = page.Locator("li.app", new() { HasText = clientId });
            await Expect(app).ToContainTextAsync("offline_access");

            await page.GetByRole(AriaRole.Button, new() { Name = $"Revoke access of {clientId}" }).ClickAsync();
            await Expect(page.Locator("p.notice")).ToHaveTextAsync("The app's access was revoked.");
            await Expect(page.Locator("li.app")).ToHaveCountAsync(0);
            (await api.RefreshAsync(clientId, refreshToken)).StatusCode.Should().Be(HttpStatusCode.BadRequest, "the app's refresh token was revoked");

            await page.GetByLabel("Current password").FillAsync(TestData.Password);
            await page.GetByLabel("New password").FillAsync(newPassword);
            await page.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
            await Expect(page.Locator("p.notice")).ToContainTextAsync("Your password was changed.");
            await Expect(page.Locator("tr.event[data-type='password.changed']")).ToHaveCountAsync(1);
            await Expect(page.Locator("tr.event[data-type='consent.revoked']")).ToHaveCountAsync(1);
            await page.ReloadAsync();
            await Expect(page.Locator("h1")).ToHaveTextAsync("Your account", new() { Timeout = 10_000 });
        }
        catch (Exception failure)
        {
            var folder = Environment.GetEnvironmentVariable("OAUTH_TEST_ARTIFACTS") ?? Path.Combine(Path.GetTempPath(), "oauthserver-e2e");
            Directory.CreateDirectory(folder);
            var screenshot = Path.Combine(folder, $"account-page-{DateTime.UtcNow:yyyyMMdd-HHmmss}.png");
            await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
            throw new InvalidOperationException($"The account page scenario failed at {page.Url}; screenshot: {screenshot}. {failure.Message}", failure);
        }

        (await server.LoginAsync(email, newPassword)).StatusCode.Should().Be(HttpStatusCode.Redirect, "the new password signs in");
    }
}
