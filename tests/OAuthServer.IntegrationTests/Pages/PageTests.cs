using System.Net;
using System.Text.Json;
using OAuthServer.Html;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.Protocol;
using OAuthServer.Security;

namespace OAuthServer.IntegrationTests.Pages;

/// <summary>
/// The pages over HTTP through the real pipeline: the shell (stylesheet, CSP), the client named on the sign-in
/// page from its registration only, languages from ui_locales and Accept-Language, and the error pages of the
/// authorization and end-session endpoints.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class PageTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Pages_link_a_served_stylesheet_and_carry_the_strict_page_CSP_with_no_inline_style_or_script()
    {
        using var api = server.CreateApiClient();

        var page = await api.GetAsync(ProtocolPaths.Login);
        var html = await page.Content.ReadAsStringAsync();

        // Note: the sign-in page has a passkey control, so it may run our one served script (and nothing inline).
        page.Headers.GetValues("Content-Security-Policy").Single().Should().Be(BrowserSecurity.PageContentSecurityPolicyWith([], ownScript: true));
        BrowserSecurity.PageContentSecurityPolicy.Should().Contain("script-src 'none'").And.Contain("style-src 'self'")
            .And.Contain("form-action 'self'").And.Contain("frame-ancestors 'none'").And.Contain("img-src 'self' https:");
        page.Headers.CacheControl!.NoStore.Should().BeTrue();
        html.Should().NotContain("<style").And.NotContain("<script>").And.NotContain(" style=");
        System.Text.RegularExpressions.Regex.Count(html, "<script").Should().Be(1, "the passkey script is the only one");
        var href = System.Text.RegularExpressions.Regex.Match(html, "<link rel=\"stylesheet\" href=\"([^\"]+)\">").Groups[1].Value;
        href.Should().StartWith(SiteAssets.StylesheetPath + "?v=");

        var css = await api.GetAsync(WebUtility.HtmlDecode(href));
        css.StatusCode.Should().Be(HttpStatusCode.OK);
        css.Content.Headers.ContentType!.MediaType.Should().Be("text/css");
        css.Headers.CacheControl!.MaxAge.Should().BeGreaterThan(TimeSpan.FromDays(30));
        (await css.Content.ReadAsStringAsync()).Should().Contain("--primary: #1f4fbf");
        (await api.GetAsync(SiteAssets.OverridesPath)).StatusCode.Should().Be(HttpStatusCode.NotFound, "no overrides folder is configured");
    }

    [Fact]
    public async Task Login_page_names_the_registered_client_with_its_registered_logo_and_home_page_only()
    {
        var (clientId, redirectUri) = await server.CreatePresentedClientAsync("Photo Album", "https://photos.example/logo.png", "https://photos.example/");
        var flow = new BrowserFlow(server);
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        // Parameters an attacker might add hoping the page shows them (RFC 7591 names, OIDC's display).
        parameters["client_name"] = "Evil Bank";
        parameters["logo_uri"] = "https://evil.example/logo.png";
        parameters["client_uri"] = "https://evil.example/";

        var page = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(parameters));
        var html = await page.Content.ReadAsStringAsync();

        page.StatusCode.Should().Be(HttpStatusCode.OK);
        page.Headers.GetValues("Content-Security-Policy").Single().Should().Contain("form-action 'self' http://127.0.0.1:*;",
            "the sign-in POST's redirect chain ends at the client's registered (loopback) redirect URI");
        html.Should().Contain("<h1>Sign in to Photo Album</h1>");
        html.Should().Contain("<img src=\"https://photos.example/logo.png\" alt=\"\">");
        html.Should().Contain("<a href=\"https://photos.example/\" rel=\"noopener noreferrer\">About Photo Album</a>");
        html.Should().NotContain("Evil Bank").And.NotContain("evil.example/logo").And.NotContain("href=\"https://evil.example/\"");
    }

    [Fact]
    public async Task A_registered_logo_or_home_page_that_is_not_an_https_URL_is_not_shown_and_the_name_is_encoded()
    {
        var (clientId, redirectUri) = await server.CreatePresentedClientAsync("<b>Shop</b>", "javascript:alert(1)", "data:text/html,hi");
        var flow = new BrowserFlow(server);

        var html = await (await flow.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create()))))
            .Content.ReadAsStringAsync();

        html.Should().Contain("Sign in to &lt;b&gt;Shop&lt;/b&gt;");
        html.Should().NotContain("javascript:").And.NotContain("data:text").And.NotContain("<img src");
    }

    [Fact]
    public async Task A_login_page_for_another_return_url_or_an_unknown_client_names_no_client()
    {
        using var api = server.CreateApiClient();

        var direct = await (await api.GetAsync(ProtocolPaths.Login)).Content.ReadAsStringAsync();
        var unknown = await (await api.GetAsync(ProtocolPaths.Login + "?returnUrl=" + Uri.EscapeDataString("/connect/authorize?client_id=not-registered-" + Guid.NewGuid().ToString("N"))))
            .Content.ReadAsStringAsync();

        direct.Should().Contain("<h1>Sign in</h1>");
        unknown.Should().Contain("<h1>Sign in</h1>").And.NotContain("class=\"client\"");
    }

    [Fact]
    public async Task A_direct_sign_in_without_a_return_url_lands_on_the_account_page()
    {
        var email = await server.CreateUserAsync();
        var flow = new BrowserFlow(server);

        var signedIn = await flow.SubmitLoginAsync(await flow.FollowAsync(ProtocolPaths.Login), email, TestData.Password);

        signedIn.StatusCode.Should().Be(HttpStatusCode.Redirect);
        signedIn.Headers.Location!.ToString().Should().Be(ProtocolPaths.Account);
    }

    [Theory]
    [InlineData("de", null, "de")]
    [InlineData("de-CH, en;q=0.5", null, "de")]
    [InlineData("en", "de", "de")]
    [InlineData("de", "fr en", "en")]
    [InlineData("de", "fr", "de")]
    [InlineData("fr", null, "en")]
    public async Task The_login_page_speaks_the_authorize_requests_ui_locales_then_the_browsers_language(string acceptLanguage, string? uiLocales, string expected)
    {
        var (clientId, redirectUri) = await server.CreatePresentedClientAsync("Notes", null, null);
        var flow = new BrowserFlow(server);
        flow.Browser.DefaultRequestHeaders.AcceptLanguage.ParseAdd(acceptLanguage);
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        if (uiLocales is not null)
        {
            parameters["ui_locales"] = uiLocales;
        }

        var page = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(parameters));
        var html = await page.Content.ReadAsStringAsync();

        html.Should().Contain($"<html lang=\"{expected}\">");
        page.Content.Headers.ContentLanguage.Should().Equal(expected);
        html.Should().Contain(expected == "de" ? "<h1>Bei Notes anmelden</h1>" : "<h1>Sign in to Notes</h1>");
        html.Should().Contain(expected == "de" ? ">Passwort</label>" : ">Password</label>");
    }

    [Fact]
    public async Task A_failed_sign_in_answers_in_the_language_of_the_page_it_was_posted_from()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePresentedClientAsync("Notes", null, null);
        var flow = new BrowserFlow(server);
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["ui_locales"] = "de";
        var page = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(parameters));
        var html = await page.Content.ReadAsStringAsync();
        var action = WebUtility.HtmlDecode(System.Text.RegularExpressions.Regex.Match(html, "<form method=\"post\" action=\"([^\"]+)\"").Groups[1].Value);
        var fields = BrowserFlow.HiddenFields(html);
        fields["email"] = email;
        fields["password"] = "wrong-password-attempt";

        var failed = await flow.Browser.PostAsync(action, new FormUrlEncodedContent(fields));
        var answer = await failed.Content.ReadAsStringAsync();

        action.Should().Be(ProtocolPaths.Login + "?ui_locales=de", "the language came from ui_locales, which the post must carry on");
        failed.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        answer.Should().Contain("<p class=\"error\" id=\"login-error\" role=\"alert\" tabindex=\"-1\" autofocus>E-Mail-Adresse oder Passwort ist falsch.</p>");
        answer.Should().Contain("<h1>Bei Notes anmelden</h1>", "the returnUrl still names the client");
    }

    [Fact]
    public async Task Discovery_lists_the_supported_ui_locales()
    {
        using var api = server.CreateApiClient();

        var document = await BrowserFlow.JsonAsync(await api.GetAsync(ProtocolPaths.OpenIdConfiguration));

        document.GetProperty("ui_locales_supported").EnumerateArray().Select(value => value.GetString()).Should().Equal("en", "de");
    }

    [Fact]
    public async Task An_unknown_client_at_the_authorization_endpoint_gets_a_styled_page_that_echoes_nothing()
    {
        using var api = server.CreateApiClient();
        var marker = "<script>alert('x')</script>" + Guid.NewGuid().ToString("N");

        var response = await api.GetAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(marker, "https://evil.example/cb", Pkce.Create())));
        var html = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/html");
        response.Headers.GetValues("Content-Security-Policy").Single().Should().Be(BrowserSecurity.PageContentSecurityPolicy);
        html.Should().Contain("<h1>Something went wrong</h1>");
        html.Should().Contain("is not known to this sign-in service");
        html.Should().Contain("<code>invalid_request</code>");
        html.Should().NotContain("alert(").And.NotContain(marker[^32..]).And.NotContain("evil.example").And.NotContain("error_description:");
    }

    [Fact]
    public async Task An_unregistered_redirect_uri_gets_a_styled_page_in_the_requests_language_and_is_not_followed()
    {
        var (clientId, _) = await server.CreatePresentedClientAsync("Notes", null, null);
        using var api = server.CreateApiClient();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, "https://evil.example/steal", Pkce.Create());
        parameters["ui_locales"] = "de";

        var response = await api.GetAsync(BrowserFlow.AuthorizeUrl(parameters));
        var html = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Headers.Location.Should().BeNull();
        html.Should().Contain("<html lang=\"de\">").And.Contain("<h1>Etwas ist schiefgelaufen</h1>");
        html.Should().Contain("nicht registrierte Adresse").And.Contain("<code>invalid_request</code>");
        html.Should().NotContain("evil.example");
    }

    [Fact]
    public async Task An_error_that_can_go_back_to_the_client_still_goes_back_to_it()
    {
        var (clientId, redirectUri) = await server.CreatePresentedClientAsync("Notes", null, null);
        using var api = server.CreateApiClient();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["prompt"] = "none";

        var response = await api.GetAsync(BrowserFlow.AuthorizeUrl(parameters));

        response.StatusCode.Should().Be(HttpStatusCode.Redirect, "RFC 6749 §4.1.2.1: a validated redirect_uri gets the error");
        response.Headers.Location!.GetLeftPart(UriPartial.Path).Should().Be(redirectUri);
        BrowserFlow.Query(response.Headers.Location!)["error"].Should().Be("login_required");
    }

    [Fact]
    public async Task An_unregistered_post_logout_redirect_uri_gets_the_styled_error_page()
    {
        var (clientId, _) = await server.CreatePresentedClientAsync("Notes", null, null);
        using var api = server.CreateApiClient();

        var response = await api.GetAsync($"{ProtocolPaths.EndSession}?client_id={clientId}&post_logout_redirect_uri={Uri.EscapeDataString("https://evil.example/bye")}");
        var html = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        html.Should().Contain("<h1>Something went wrong</h1>").And.Contain("role=\"alert\"").And.NotContain("evil.example");
    }

    [Fact]
    public async Task Logout_page_speaks_the_browsers_language()
    {
        var email = await server.CreateUserAsync();
        var flow = new BrowserFlow(server);
        flow.Browser.DefaultRequestHeaders.AcceptLanguage.ParseAdd("de");
        await flow.SubmitLoginAsync(await flow.FollowAsync(ProtocolPaths.Login), email, TestData.Password);
        var form = BrowserFlow.HiddenFields(await (await flow.FollowAsync(ProtocolPaths.Login)).Content.ReadAsStringAsync());
        form.Remove("returnUrl");

        var response = await flow.Browser.PostAsync(ProtocolPaths.Logout, new FormUrlEncodedContent(form));
        var html = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        html.Should().Contain("<h1>Abgemeldet</h1>").And.Contain("Sie sind abgemeldet.");
    }
}
