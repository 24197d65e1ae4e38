using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OAuthServer.Benchmarks;

/// <summary>
/// Drives the server as clients and browsers do, over one shared connection pool. Every request carries
/// X-Forwarded-Proto: https, as the TLS-terminating proxy would (the tool's address is a known proxy).
/// Cookies are kept per sign-in by hand: they are Secure, and the hop to the server is plain HTTP.
/// </summary>
internal sealed partial class ProtocolClient(HttpClient http, string serviceSecret)
{
    public static HttpClient CreateHttpClient(Uri baseAddress, int connections) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = false,
        MaxConnectionsPerServer = connections,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    })
    {
        BaseAddress = baseAddress,
        Timeout = TimeSpan.FromSeconds(30),
    };

    public HttpClient Http => http;

    /// <summary>Why operations failed ("refresh: 400 invalid_grant"), counted, for the report: errors with a reason.</summary>
    public ConcurrentDictionary<string, int> Failures { get; } = new(StringComparer.Ordinal);

    private void Fail(string reason) => Failures.AddOrUpdate(reason, 1, (_, count) => count + 1);

    // Note: only the status and the OAuth error code are kept, never a body that could hold a token.
    private async Task FailAsync(string step, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var error = string.Empty;
        if (response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            try
            {
                error = (await ReadJsonAsync(response, cancellationToken)).TryGetProperty("error", out var code) ? " " + code.GetString() : string.Empty;
            }
            catch (JsonException)
            {
            }
        }

        Fail($"{step}: {(int)response.StatusCode}{error}");
    }

    public async Task<byte[]> GetBytesAsync(string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("X-Forwarded-Proto", "https");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    public async Task<bool> GetOkAsync(string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("X-Forwarded-Proto", "https");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        return response.StatusCode == HttpStatusCode.OK;
    }

    public async Task<bool> ClientCredentialsAsync(CancellationToken cancellationToken)
    {
        using var response = await TokenAsync(ClientCredentialsForm(), cancellationToken);
        return response.StatusCode == HttpStatusCode.OK && (await ReadJsonAsync(response, cancellationToken)).TryGetProperty("access_token", out _);
    }

    /// <summary>One rotation: the new refresh token, or null if the server refused.</summary>
    public async Task<string?> RefreshAsync(string refreshToken, CancellationToken cancellationToken)
    {
        using var response = await TokenAsync(RefreshForm(refreshToken), cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            await FailAsync("refresh", response, cancellationToken);
            return null;
        }

        return (await ReadJsonAsync(response, cancellationToken)).TryGetProperty("refresh_token", out var token) ? token.GetString() : null;
    }

    /// <summary>A whole client_credentials answer (status and JSON body), for <see cref="TokenCheck"/>.</summary>
    public Task<(HttpStatusCode Status, JsonElement Body)> ClientCredentialsResponseAsync(CancellationToken cancellationToken) =>
        TokenResponseAsync(ClientCredentialsForm(), cancellationToken);

    /// <summary>A whole refresh answer (status and JSON body), for <see cref="TokenCheck"/>.</summary>
    public Task<(HttpStatusCode Status, JsonElement Body)> RefreshResponseAsync(string refreshToken, CancellationToken cancellationToken) =>
        TokenResponseAsync(RefreshForm(refreshToken), cancellationToken);

    private Dictionary<string, string> ClientCredentialsForm() => new()
    {
        ["grant_type"] = "client_credentials",
        ["client_id"] = ServerUnderTest.ServiceClientId,
        ["client_secret"] = serviceSecret,
        ["scope"] = "api",
    };

    private static Dictionary<string, string> RefreshForm(string refreshToken) => new()
    {
        ["grant_type"] = "refresh_token",
        ["client_id"] = ServerUnderTest.PublicClientId,
        ["refresh_token"] = refreshToken,
    };

    private async Task<(HttpStatusCode Status, JsonElement Body)> TokenResponseAsync(Dictionary<string, string> form, CancellationToken cancellationToken)
    {
        using var response = await TokenAsync(form, cancellationToken);
        var body = response.Content.Headers.ContentType?.MediaType == "application/json" ? await ReadJsonAsync(response, cancellationToken) : default;
        return (response.StatusCode, body);
    }

    /// <summary>
    /// The whole front channel and the code exchange, as a browser and a SPA do them: authorize (redirect to the
    /// login page), the login page, the login POST (Argon2), authorize again with the session, then the code
    /// for tokens. Returns the refresh token, or null at the first unexpected answer.
    /// </summary>
    public async Task<string?> SignInAsync(string email, CancellationToken cancellationToken)
    {
        var cookies = new Dictionary<string, string>(StringComparer.Ordinal);
        var (authorize, verifier) = AuthorizeRequest(null);

        // 1. authorize without a session: sent to the login page.
        var loginUrl = await RedirectAsync(HttpMethod.Get, authorize, null, cookies, cancellationToken);
        if (loginUrl is null || !loginUrl.StartsWith("/account/login", StringComparison.Ordinal))
        {
            return null;
        }

        // 2. the login page: its antiforgery token and cookie.
        Dictionary<string, string> fields;
        using (var page = await SendAsync(HttpMethod.Get, loginUrl, null, cookies, cancellationToken))
        {
            if (page.StatusCode != HttpStatusCode.OK)
            {
                return null;
            }

            fields = HiddenFields(await page.Content.ReadAsStringAsync(cancellationToken));
        }

        // 3. the login POST: Argon2 verification, then the session cookie and a redirect back to authorize.
        fields["email"] = email;
        fields["password"] = ServerUnderTest.Password;
        var back = await RedirectAsync(HttpMethod.Post, "/account/login", fields, cookies, cancellationToken);
        if (back is null || !back.StartsWith("/connect/authorize", StringComparison.Ordinal))
        {
            Fail("sign-in: the login POST did not sign in (503 auth busy when the hash queue is full)");
            return null;
        }

        // 4. authorize with the session: the code, sent to the client's redirect URI.
        var callback = await RedirectAsync(HttpMethod.Get, back, null, cookies, cancellationToken);
        return callback is null ? null : await RedeemCodeAsync(callback, verifier, cancellationToken);
    }

    /// <summary>
    /// The same authorization request for a server whose interaction signs in the login_hint's account with no
    /// page and no password (the peer): its redirects are followed on the server until one leaves for the
    /// client's redirect URI, then the code is exchanged. Returns the refresh token, or null.
    /// </summary>
    public async Task<string?> HintedSignInAsync(string loginHint, CancellationToken cancellationToken)
    {
        var cookies = new Dictionary<string, string>(StringComparer.Ordinal);
        var (next, verifier) = AuthorizeRequest(loginHint);
        for (var hop = 0; hop < 6 && next is not null; hop++)
        {
            next = await RedirectAsync(HttpMethod.Get, next, null, cookies, cancellationToken);
            if (next?.StartsWith(ServerUnderTest.RedirectUri, StringComparison.Ordinal) == true)
            {
                return await RedeemCodeAsync(next, verifier, cancellationToken);
            }
        }

        Fail("sign-in: the authorization request did not reach the redirect URI");
        return null;
    }

    // The SPA's authorization request with a fresh S256 challenge (RFC 7636), and the verifier for its code.
    private static (string Url, string Verifier) AuthorizeRequest(string? loginHint)
    {
        var verifier = Base64Url(RandomNumberGenerator.GetBytes(32));
        var parameters = new Dictionary<string, string>
        {
            ["client_id"] = ServerUnderTest.PublicClientId,
            ["response_type"] = "code",
            ["redirect_uri"] = ServerUnderTest.RedirectUri,
            ["scope"] = "openid offline_access api",
            ["state"] = Base64Url(RandomNumberGenerator.GetBytes(12)),
            ["code_challenge"] = Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))),
            ["code_challenge_method"] = "S256",
        };
        if (loginHint is not null)
        {
            parameters["login_hint"] = loginHint;
        }

        return ("/connect/authorize?" + Query(parameters), verifier);
    }

    // The code from the redirect to the client, exchanged for tokens with its verifier: the refresh token, or null.
    private async Task<string?> RedeemCodeAsync(string callback, string verifier, CancellationToken cancellationToken)
    {
        if (!callback.StartsWith(ServerUnderTest.RedirectUri, StringComparison.Ordinal)
            || ParseQuery(new Uri(callback).Query).GetValueOrDefault("code") is not { } code)
        {
            return null;
        }

        using var tokens = await TokenAsync(new()
        {
            ["grant_type"] = "authorization_code",
            ["client_id"] = ServerUnderTest.PublicClientId,
            ["redirect_uri"] = ServerUnderTest.RedirectUri,
            ["code"] = code,
            ["code_verifier"] = verifier,
        }, cancellationToken);
        if (tokens.StatusCode != HttpStatusCode.OK)
        {
            await FailAsync("sign-in code exchange", tokens, cancellationToken);
            return null;
        }

        return (await ReadJsonAsync(tokens, cancellationToken)).TryGetProperty("refresh_token", out var refresh) ? refresh.GetString() : null;
    }

    /// <summary>The login page's form fields with its antiforgery cookie, for a flood of login POSTs.</summary>
    public async Task<(Dictionary<string, string> Fields, Dictionary<string, string> Cookies)?> LoginFormAsync(CancellationToken cancellationToken)
    {
        var cookies = new Dictionary<string, string>(StringComparer.Ordinal);
        using var page = await SendAsync(HttpMethod.Get, "/account/login", null, cookies, cancellationToken);
        return page.StatusCode == HttpStatusCode.OK ? (HiddenFields(await page.Content.ReadAsStringAsync(cancellationToken)), cookies) : null;
    }

    public async Task<HttpStatusCode> PostLoginAsync(Dictionary<string, string> fields, Dictionary<string, string> cookies, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, "/account/login", fields, cookies, cancellationToken);
        return response.StatusCode;
    }

    private async Task<HttpResponseMessage> TokenAsync(Dictionary<string, string> form, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token") { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add("X-Forwarded-Proto", "https");
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        }
        finally
        {
            request.Dispose();
        }
    }

    // Sends one request and returns the Location of its redirect (path and query when it points at this server).
    private async Task<string?> RedirectAsync(
        HttpMethod method, string url, Dictionary<string, string>? form, Dictionary<string, string> cookies,
        CancellationToken cancellationToken)
    {
        using var response = await SendAsync(method, url, form, cookies, cancellationToken);
        if (response.StatusCode is not (HttpStatusCode.Redirect or HttpStatusCode.Found or HttpStatusCode.SeeOther) || response.Headers.Location is not { } location)
        {
            return null;
        }

        if (!location.IsAbsoluteUri)
        {
            return location.OriginalString;
        }

        // A Location on this server (its own address or the public issuer) is followed by path; anything else
        // (the client's redirect URI) leaves the server and is returned whole.
        var ours = location.Port == http.BaseAddress!.Port || location.Host == new Uri(ServerUnderTest.Issuer).Host;
        return ours ? location.PathAndQuery : location.AbsoluteUri;
    }

    private async Task<HttpResponseMessage> SendAsync(
        HttpMethod method, string url, Dictionary<string, string>? form, Dictionary<string, string> cookies, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, url);
        request.Headers.Add("X-Forwarded-Proto", "https");
        if (form is not null)
        {
            request.Content = new FormUrlEncodedContent(form);
        }

        if (cookies.Count > 0)
        {
            request.Headers.Add("Cookie", string.Join("; ", cookies.Select(pair => $"{pair.Key}={pair.Value}")));
        }

        var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.Headers.TryGetValues("Set-Cookie", out var setCookies))
        {
            foreach (var header in setCookies)
            {
                var pair = header.Split(';', 2)[0].Split('=', 2);
                if (pair.Length == 2)
                {
                    if (pair[1].Length == 0)
                    {
                        cookies.Remove(pair[0]);
                    }
                    else
                    {
                        cookies[pair[0]] = pair[1];
                    }
                }
            }
        }

        return response;
    }

    private static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
        return document.RootElement.Clone();
    }

    private static Dictionary<string, string> HiddenFields(string html)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match match in HiddenInput().Matches(html))
        {
            fields[WebUtility.HtmlDecode(match.Groups["name"].Value)] = WebUtility.HtmlDecode(match.Groups["value"].Value);
        }

        return fields;
    }

    private static Dictionary<string, string> ParseQuery(string query)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var pair = part.Split('=', 2);
            result[Uri.UnescapeDataString(pair[0])] = pair.Length == 2 ? Uri.UnescapeDataString(pair[1].Replace('+', ' ')) : string.Empty;
        }

        return result;
    }

    private static string Query(Dictionary<string, string> values) =>
        string.Join('&', values.Select(pair => $"{Uri.EscapeDataString(pair.Key)}={Uri.EscapeDataString(pair.Value)}"));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [GeneratedRegex("<input type=\"hidden\" name=\"(?<name>[^\"]*)\" value=\"(?<value>[^\"]*)\">")]
    private static partial Regex HiddenInput();
}
