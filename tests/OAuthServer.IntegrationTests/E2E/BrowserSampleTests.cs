using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using OAuthServer.Accounts;
using OAuthServer.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace OAuthServer.IntegrationTests.E2E;

/// <summary>
/// The samples in a real browser: samples/SpaClient signs in against the server with PKCE, calls
/// samples/ResourceApi, refreshes silently when its 5-second access token expires, and signs out.
/// </summary>
public sealed partial class BrowserSampleTests(BrowserSamplesFixture samples) : IClassFixture<BrowserSamplesFixture>
{
    [Fact]
    public async Task Spa_signs_in_calls_the_api_refreshes_silently_when_the_token_expires_and_signs_out()
    {
        var email = await samples.Server.CreateUserAsync();
        await samples.RunAsync(nameof(Spa_signs_in_calls_the_api_refreshes_silently_when_the_token_expires_and_signs_out), async page =>
        {
            var bearerTokens = new List<string>();
            page.Request += (_, request) =>
            {
                if (request.Url.StartsWith(samples.ResourceApi.Origin.ToString(), StringComparison.Ordinal)
                    && request.Headers.TryGetValue("authorization", out var authorization))
                {
                    lock (bearerTokens)
                    {
                        bearerTokens.Add(authorization["Bearer ".Length..]);
                    }
                }
            };

            await page.GotoAsync(samples.Spa.Origin.ToString());
            await Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "signed-out");
            await page.ClickAsync("#sign-in");
            await SubmitLoginAsync(page, email, TestData.Password);

            // Back in the SPA: who signed in, and the resource API's answer to the first access token.
            await Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "signed-in");
            await Expect(page.Locator("#user")).ToHaveTextAsync(email);
            var answer = page.Locator("#api-result");
            await Expect(answer).ToHaveAttributeAsync("data-status", "200");
            await Expect(answer).ToContainTextAsync("Hello from the resource API, " + email);
            var firstAnswer = await answer.TextContentAsync();
            page.Url.Should().NotContain("code=", "the SPA removes the code from the address bar");

            // The access token lives 5 seconds; when it expires the SPA redeems its refresh token on its own.
            // (On a slow machine the first call may already have needed a refresh: wait for one after it.)
            var refreshesSoFar = await page.Locator("#refresh-count").TextContentAsync();
            await Expect(page.Locator("#refresh-count")).Not.ToHaveTextAsync(refreshesSoFar!, new() { Timeout = 60_000 });

            // The API accepts the new access token (a different one, with a later expiry)...
            await page.ClickAsync("#call-api");
            await Expect(answer).Not.ToHaveTextAsync(firstAnswer!);
            await Expect(answer).ToHaveAttributeAsync("data-status", "200");
            await Expect(answer).ToContainTextAsync("Hello from the resource API");
            string[] seen;
            lock (bearerTokens)
            {
                seen = [.. bearerTokens.Distinct()];
            }

            seen.Should().HaveCountGreaterThanOrEqualTo(2, "the second call used a refreshed access token");

            // ...and refuses the first one once it has expired: 401, not 403. (The SPA may refresh before expiry, so
            // the first token is waited out rather than assumed expired.)
            var firstExpiry = DateTimeOffset.FromUnixTimeSeconds(new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(seen[0]).GetPayloadValue<long>("exp"));
            var untilExpired = firstExpiry.AddSeconds(1) - DateTimeOffset.UtcNow;
            if (untilExpired > TimeSpan.Zero)
            {
                await Task.Delay(untilExpired);
            }

            using var api = new HttpClient();
            using var expired = new HttpRequestMessage(HttpMethod.Get, new Uri(samples.ResourceApi.Origin, "/api/hello"));
            expired.Headers.Authorization = new AuthenticationHeaderValue("Bearer", seen[0]);
            (await api.SendAsync(expired)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);

            // Sign out ends the server session too: the next sign-in asks for the password again.
            await page.ClickAsync("#sign-out");
            await Expect(page).ToHaveURLAsync(new Regex("^" + Regex.Escape(samples.Spa.Origin.ToString())));
            await Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "signed-out");
            await page.ClickAsync("#sign-in");
            await Expect(page.Locator("#password")).ToBeVisibleAsync();
        });
    }

    [Fact]
    public async Task Wrong_password_shows_the_generic_error_and_the_spa_stays_signed_out()
    {
        var email = await samples.Server.CreateUserAsync();
        await samples.RunAsync(nameof(Wrong_password_shows_the_generic_error_and_the_spa_stays_signed_out), async page =>
        {
            await page.GotoAsync(samples.Spa.Origin.ToString());
            await page.ClickAsync("#sign-in");
            await SubmitLoginAsync(page, email, "not-the-right-password-at-all");

            // Note: the same words for an unknown user, a wrong password, or a locked or disabled account.
            await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync(AccountPages.LoginFailedMessage);
            await Expect(page.Locator("#password")).ToBeVisibleAsync();
            page.Url.Should().StartWith(samples.Server.Issuer.ToString(), "the browser stays on the server's login page");
        });
    }

    [Fact]
    public async Task Consent_page_of_a_third_party_spa_is_accepted_once_and_denied_once()
    {
        var accepting = await samples.Server.CreateUserAsync();
        var denying = await samples.Server.CreateUserAsync();

        await samples.RunAsync("consent-accepted", async page =>
        {
            await page.GotoAsync(samples.ConsentSpa.Origin.ToString());
            await page.ClickAsync("#sign-in");
            await SubmitLoginAsync(page, accepting, TestData.Password);
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Allow access?" })).ToBeVisibleAsync();
            await page.ClickAsync("button[value=accept]");

            await Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "signed-in");
            await Expect(page.Locator("#api-result")).ToHaveAttributeAsync("data-status", "200");
        });

        await samples.RunAsync("consent-denied", async page =>
        {
            await page.GotoAsync(samples.ConsentSpa.Origin.ToString());
            await page.ClickAsync("#sign-in");
            await SubmitLoginAsync(page, denying, TestData.Password);
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Allow access?" })).ToBeVisibleAsync();
            await page.ClickAsync("button[value=deny]");

            // The SPA gets error=access_denied on its redirect URI and stays signed out.
            await Expect(page.Locator("#error")).ToContainTextAsync("access_denied");
            await Expect(page.Locator("#status")).ToHaveAttributeAsync("data-state", "signed-out");
        });
    }

    private async Task SubmitLoginAsync(IPage page, string email, string password)
    {
        await Expect(page).ToHaveURLAsync(new Regex("^" + Regex.Escape(samples.Server.Issuer.ToString()) + "account/login"));
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.ClickAsync("button[type=submit]");
    }
}
