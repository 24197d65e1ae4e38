using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>
/// A browser on the account page: it holds its own cookie jar (so a test can copy the session cookie, as a thief
/// would) and posts the page's forms with the antiforgery token the page gave it.
/// </summary>
internal sealed class AccountBrowser
{
    private AccountBrowser(Uri issuer, CookieContainer cookies)
    {
        Issuer = issuer;
        Cookies = cookies;
        Client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = cookies }) { BaseAddress = issuer };
        Flow = new BrowserFlow(issuer, Client);
    }

    public Uri Issuer { get; }

    public CookieContainer Cookies { get; }

    public HttpClient Client { get; }

    public BrowserFlow Flow { get; }

    public static AccountBrowser New(Uri issuer) => new(issuer, new CookieContainer());

    /// <summary>Signs in at /account (anonymous, so through the login page) and lands on the account page.</summary>
    public static async Task<AccountBrowser> SignInAsync(Uri issuer, string email, string password = TestData.Password)
    {
        var browser = New(issuer);
        var login = await browser.Flow.FollowAsync("/account");
        login.StatusCode.Should().Be(HttpStatusCode.OK);
        var afterLogin = await browser.Flow.SubmitLoginAsync(login, email, password);
        afterLogin.StatusCode.Should().Be(HttpStatusCode.Redirect, await afterLogin.Content.ReadAsStringAsync());
        afterLogin.Headers.Location!.ToString().Should().Be("/account");
        return browser;
    }

    /// <summary>
    /// Another browser that holds a copy of this one's cookies (a stolen session cookie), except those named in
    /// <paramref name="except"/> (a thief who did not get them all).
    /// </summary>
    public AccountBrowser Copy(params string[] except)
    {
        var copy = New(Issuer);
        foreach (Cookie cookie in Cookies.GetAllCookies().Where(cookie => !except.Contains(cookie.Name)))
        {
            copy.Cookies.Add(new Cookie(cookie.Name, cookie.Value, cookie.Path, cookie.Domain));
        }

        return copy;
    }

    public string? SessionCookie => Cookies.GetAllCookies().FirstOrDefault(cookie => cookie.Name == "oauthserver.session")?.Value;

    public Task<HttpResponseMessage> PageAsync() => Client.GetAsync("/account");

    public async Task<string> PageHtmlAsync()
    {
        var page = await PageAsync();
        page.StatusCode.Should().Be(HttpStatusCode.OK, "the session is current");
        return await page.Content.ReadAsStringAsync();
    }

    /// <summary>Posts a form of the account page with this browser's antiforgery token and <paramref name="fields"/>.</summary>
    public async Task<HttpResponseMessage> PostAsync(string path, Dictionary<string, string>? fields = null, bool withToken = true)
    {
        var form = new Dictionary<string, string>();
        if (withToken)
        {
            var html = await (await PageAsync()).Content.ReadAsStringAsync();
            foreach (var (name, value) in BrowserFlow.HiddenFields(html).Where(field => field.Key.StartsWith("__RequestVerificationToken", StringComparison.Ordinal)))
            {
                form[name] = value;
            }

            form.Should().NotBeEmpty("the page carries an antiforgery token");
        }

        foreach (var (name, value) in fields ?? [])
        {
            form[name] = value;
        }

        return await Client.PostAsync(path, new FormUrlEncodedContent(form));
    }

    public static bool SentToLogin(HttpResponseMessage response) =>
        response.StatusCode == HttpStatusCode.Redirect && response.Headers.Location!.ToString().StartsWith("/account/login?returnUrl=%2Faccount", StringComparison.Ordinal);
}
