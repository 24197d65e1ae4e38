using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.WebUtilities;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// Drives the authorization endpoint the way a browser does: follows redirects by hand, fills in the HTML
/// login form (with its antiforgery token), and stops at the first redirect that leaves the server.
/// </summary>
public sealed partial class BrowserFlow(Uri issuer, HttpClient browser)
{
    public BrowserFlow(OAuthServerFactory server) : this(server.Issuer, server.CreateBrowser())
    {
    }

    /// <summary>A browser against a server this test runs as a process (a cluster node).</summary>
    public BrowserFlow(Uri issuer) : this(issuer, new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = new CookieContainer() }) { BaseAddress = issuer })
    {
    }

    public HttpClient Browser { get; } = browser;

    public static Dictionary<string, string?> AuthorizeParameters(string clientId, string redirectUri, Pkce pkce, string scope = "openid offline_access api", string state = "state-123") => new()
    {
        ["client_id"] = clientId,
        ["response_type"] = "code",
        ["redirect_uri"] = redirectUri,
        ["scope"] = scope,
        ["state"] = state,
        ["code_challenge"] = pkce.Challenge,
        ["code_challenge_method"] = "S256",
    };

    public static string AuthorizeUrl(IDictionary<string, string?> parameters) => QueryHelpers.AddQueryString("/connect/authorize", parameters);

    /// <summary>GETs a URL and follows redirects that stay on the server; returns the last response.</summary>
    public async Task<HttpResponseMessage> FollowAsync(string url, int maxHops = 10)
    {
        var response = await Browser.GetAsync(url);
        for (var hop = 0; hop < maxHops && IsRedirect(response) && StaysOnServer(response.Headers.Location!); hop++)
        {
            response = await Browser.GetAsync(Absolute(response.Headers.Location!));
        }

        return response;
    }

    /// <summary>Submits the login form found on <paramref name="loginPage"/>.</summary>
    public async Task<HttpResponseMessage> SubmitLoginAsync(HttpResponseMessage loginPage, string email, string password)
    {
        var html = await loginPage.Content.ReadAsStringAsync();
        var fields = HiddenFields(html);
        fields["email"] = email;
        fields["password"] = password;
        return await Browser.PostAsync("/account/login", new FormUrlEncodedContent(fields));
    }

    /// <summary>
    /// The whole front channel: authorize, sign in through the form, and return the redirect to the client
    /// (the response whose Location leaves the server).
    /// </summary>
    public async Task<HttpResponseMessage> SignInAsync(string authorizeUrl, string email, string password)
    {
        var loginPage = await FollowAsync(authorizeUrl);
        loginPage.StatusCode.Should().Be(HttpStatusCode.OK, "the login form is shown");
        var afterLogin = await SubmitLoginAsync(loginPage, email, password);
        afterLogin.StatusCode.Should().Be(HttpStatusCode.Redirect, "a correct login redirects back to the authorize request");
        return await FollowAsync(afterLogin.Headers.Location!.ToString());
    }

    public static Dictionary<string, string> HiddenFields(string html)
    {
        var fields = new Dictionary<string, string>();
        foreach (Match match in HiddenInput().Matches(html))
        {
            fields[WebUtility.HtmlDecode(match.Groups["name"].Value)] = WebUtility.HtmlDecode(match.Groups["value"].Value);
        }

        return fields;
    }

    public static Dictionary<string, string> Query(Uri location) =>
        QueryHelpers.ParseQuery(location.Query).ToDictionary(pair => pair.Key, pair => pair.Value.ToString());

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    private static bool IsRedirect(HttpResponseMessage response) => (int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is not null;

    private bool StaysOnServer(Uri location) => !location.IsAbsoluteUri || location.Authority == issuer.Authority;

    private static string Absolute(Uri location) => location.IsAbsoluteUri ? location.PathAndQuery : location.ToString();

    [GeneratedRegex("<input type=\"hidden\" name=\"(?<name>[^\"]+)\" value=\"(?<value>[^\"]*)\">")]
    private static partial Regex HiddenInput();
}
