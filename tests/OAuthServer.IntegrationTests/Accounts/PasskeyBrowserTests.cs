using System.Net;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Playwright;
using OAuthServer.Events;
using OAuthServer.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>Passkeys as a person uses them, in headless Chromium with a virtual authenticator (the DevTools WebAuthn domain).</summary>
public sealed class PasskeyBrowserTests(AccountPageBrowserFixture fixture) : IClassFixture<AccountPageBrowserFixture>
{
    [Fact]
    public async Task A_person_adds_a_passkey_signs_out_signs_in_with_it_alone_and_an_app_gets_tokens()
    {
        var server = fixture.Server;
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        // Note: browsers refuse an IP address as an RP id, so the pages are opened on localhost (the default RP id).
        var site = PasskeyHttp.OriginOf(server);

        await using var context = await fixture.Browser.NewContextAsync();
        var page = await context.NewPageAsync();
        var authenticator = await VirtualAuthenticator.AddAsync(context, page);
        try
        {
            await page.GotoAsync(site + "/account");
            await page.FillAsync("#email", email);
            await page.FillAsync("#password", TestData.Password);
            await page.ClickAsync("form[action^='/account/login'] button[type=submit]");
            await Expect(page.Locator("h1")).ToHaveTextAsync("Your account");

            await Expect(page.Locator("p.no-passkeys")).ToBeVisibleAsync();
            await page.GetByLabel("Name of the new passkey").FillAsync("Chromium key");
            await page.GetByRole(AriaRole.Button, new() { Name = "Add a passkey" }).ClickAsync();
            await Expect(page.Locator("li.passkey")).ToHaveCountAsync(1);
            await Expect(page.Locator("li.passkey")).ToContainTextAsync("Chromium key");
            await Expect(page.Locator("li.passkey")).ToContainTextAsync("On one device only");
            var held = (await authenticator.CredentialsAsync()).Should().ContainSingle().Subject;
            held.GetProperty("isResidentCredential").GetBoolean().Should().BeTrue("the passkey is discoverable");

            await page.ClickAsync("form[action='/account/logout'] button");
            await Expect(page.Locator("h1")).ToHaveTextAsync("Signed out");
            await page.GotoAsync(site + "/account");
            await Expect(page.Locator("#email")).ToBeVisibleAsync();
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in with a passkey" }).ClickAsync();
            await Expect(page).ToHaveURLAsync(site + "/account");
            await Expect(page.Locator("h1")).ToHaveTextAsync("Your account");
            await Expect(page.Locator("li.passkey")).ToContainTextAsync("last used");

            var cookie = (await context.CookiesAsync()).Single(item => item.Name == "oauthserver.session").Value;
            PasskeyHttp.MethodsOf(server, cookie).Should().BeEquivalentTo(["hwk", "mfa"], "the session was started by a device-bound, user-verified passkey");

            // The app's sign-in rides on the passkey session: the browser's session cookie at the authorization
            // endpoint (no sign-in page again), then the code at the token endpoint.
            var pkce = Pkce.Create();
            var jar = new CookieContainer();
            jar.Add(new Uri(site), new System.Net.Cookie("oauthserver.session", cookie));
            using var app = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = jar }) { BaseAddress = new Uri(site) };
            var redirect = await new BrowserFlow(new Uri(site), app).FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce)));
            redirect.StatusCode.Should().Be(HttpStatusCode.Redirect, "the passkey session signs the app in without a form");
            redirect.Headers.Location!.ToString().Should().StartWith(redirectUri);
            var received = QueryHelpers.ParseQuery(redirect.Headers.Location.Query)["code"].ToString();
            using var api = server.CreateApiClient();
            var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, received, pkce.Verifier)).ShouldSucceedAsync();
            // What the app learns of the sign-in (RFC 8176, OpenID EAP): a device-bound, user-verified passkey is
            // two factors and phishing-resistant.
            var idToken = StepUp.StepUpFlow.Payload(tokens.GetProperty("id_token").GetString()!);
            idToken.GetProperty("amr").EnumerateArray().Select(item => item.GetString()).Should().BeEquivalentTo(["hwk", "mfa"]);
            idToken.GetProperty("acr").GetString().Should().Be("phr");
        }
        catch (Exception failure)
        {
            var folder = Environment.GetEnvironmentVariable("OAUTH_TEST_ARTIFACTS") ?? Path.Combine(Path.GetTempPath(), "oauthserver-e2e");
            Directory.CreateDirectory(folder);
            var screenshot = Path.Combine(folder, $"passkeys-{DateTime.UtcNow:yyyyMMdd-HHmmss}.png");
            await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
            throw new InvalidOperationException($"The passkey scenario failed at {page.Url}; screenshot: {screenshot}. {failure.Message}", failure);
        }

        var userId = (await server.ReadUserAsync(email)).Id;
        var events = await server.EventsForAsync(userId);
        events.Should().Contain(item => item.Type == SecurityEventTypes.FactorEnrolled);
        events.Should().Contain(item => item.Type == SecurityEventTypes.LoginSucceeded && item.Data.Contains("\"method\":\"passkey\""));
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "the password still works too");
    }
}
