using System.Net;
using Microsoft.Net.Http.Headers;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// The login page's browser controls (threat model 1.3): cookie attributes and response headers, in Development
/// over plain HTTP and on a Production node behind a TLS-terminating proxy.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class LoginPageSecurityTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Login_cookies_are_HttpOnly_and_SameSite_and_every_login_answer_sends_no_referrer()
    {
        var email = await server.CreateUserAsync();
        using var browser = ManualCookies(server.Issuer);

        var page = await browser.GetAsync("/account/login");
        var antiforgery = SetCookie(page, "oauthserver.antiforgery");
        var failed = await PostLoginAsync(browser, page, antiforgery, email, "wrong-password-attempt");
        var signedIn = await PostLoginAsync(browser, page, antiforgery, email, TestData.Password);
        var session = SetCookie(signedIn, "oauthserver.session");

        antiforgery.HttpOnly.Should().BeTrue();
        // Note: Strict, stricter than the session's Lax: the token only has to come back with the form posted
        // from our own page, never with a navigation from another site.
        antiforgery.SameSite.Should().Be(SameSiteMode.Strict);
        session.HttpOnly.Should().BeTrue("scripts must never read the session");
        // Note: Lax, not Strict: the authorize request arrives as a top-level navigation from the client's site.
        session.SameSite.Should().Be(SameSiteMode.Lax);
        antiforgery.Secure.Should().BeFalse("Development over plain HTTP (Server:RequireHttps=false) sends cookies as the request came");
        session.Secure.Should().BeFalse();
        failed.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        signedIn.StatusCode.Should().Be(HttpStatusCode.Redirect);
        foreach (var response in new[] { page, failed, signedIn })
        {
            response.Headers.GetValues("Referrer-Policy").Should().Equal(["no-referrer"], "a login answer must not leak its URL (with the authorize request in it) to the next site");
            response.Headers.GetValues("X-Content-Type-Options").Should().Equal("nosniff");
            response.Headers.GetValues("Content-Security-Policy").Single().Should().Contain("frame-ancestors 'none'");
        }
    }

    [Fact]
    public async Task Pages_refuse_to_be_framed()
    {
        using var api = server.CreateApiClient();

        var response = await api.GetAsync("/account/login");

        response.Headers.GetValues("X-Frame-Options").Should().Equal("DENY");
        response.Headers.GetValues("Content-Security-Policy").Single().Should().Contain("frame-ancestors 'none'");
        response.Headers.GetValues("X-Content-Type-Options").Should().Equal("nosniff");
        response.Headers.GetValues("Referrer-Policy").Should().Equal("no-referrer");
    }

    [Fact]
    public async Task Outside_Development_login_cookies_are_also_Secure_and_HSTS_is_sent()
    {
        // A Development node makes the schema and the keys; the Production node (which never migrates nor makes
        // keys) shares both. TLS ends at the proxy, a known proxy on 127.0.0.1 that says so in X-Forwarded-Proto.
        await using var setup = await CustomServer.StartAsync();
        var email = await setup.CreateUserAsync();
        await using var production = await CustomServer.StartAsync(new()
        {
            ["Server:Issuer"] = "https://login.example.test/",
            ["Server:RequireHttps"] = "true",
            ["Server:KnownProxies:0"] = "127.0.0.1",
            ["Keys:Path"] = setup.KeysPath,
        }, setup.ConnectionString, environmentName: "Production");
        using var browser = ManualCookies(production.Issuer);
        browser.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        browser.DefaultRequestHeaders.Add("X-Forwarded-Host", "login.example.test");

        var page = await browser.GetAsync("/account/login");
        var antiforgery = SetCookie(page, "oauthserver.antiforgery");
        var signedIn = await PostLoginAsync(browser, page, antiforgery, email, TestData.Password);
        var session = SetCookie(signedIn, "oauthserver.session");

        signedIn.StatusCode.Should().Be(HttpStatusCode.Redirect);
        antiforgery.Secure.Should().BeTrue("outside Development cookies only travel over HTTPS");
        antiforgery.HttpOnly.Should().BeTrue();
        antiforgery.SameSite.Should().Be(SameSiteMode.Strict);
        session.Secure.Should().BeTrue();
        session.HttpOnly.Should().BeTrue();
        session.SameSite.Should().Be(SameSiteMode.Lax);
        page.Headers.GetValues("Strict-Transport-Security").Single().Should().Contain("max-age=31536000");
        signedIn.Headers.GetValues("Referrer-Policy").Should().Equal("no-referrer");
    }

    // Note: cookies are carried by hand: HttpClient's cookie container would hold back a Secure cookie on the
    // plain-HTTP hop between the test (acting as the proxy) and the server.
    private static HttpClient ManualCookies(Uri issuer) => new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = issuer };

    private static async Task<HttpResponseMessage> PostLoginAsync(HttpClient browser, HttpResponseMessage page, SetCookieHeaderValue antiforgery, string email, string password)
    {
        var fields = BrowserFlow.HiddenFields(await page.Content.ReadAsStringAsync());
        fields["email"] = email;
        fields["password"] = password;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/account/login") { Content = new FormUrlEncodedContent(fields) };
        request.Headers.Add("Cookie", $"{antiforgery.Name}={antiforgery.Value}");
        return await browser.SendAsync(request);
    }

    private static SetCookieHeaderValue SetCookie(HttpResponseMessage response, string name)
    {
        response.Headers.TryGetValues("Set-Cookie", out var values).Should().BeTrue($"the response sets {name}");
        return SetCookieHeaderValue.ParseList(values!.ToList()).Should().ContainSingle(cookie => cookie.Name == name).Subject;
    }
}
