using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace NativeClient;

/// <summary>Where the app signs in and what it calls.</summary>
internal sealed record NativeClientSettings(Uri Issuer, string ClientId, string Scope, Uri ApiUrl, string TokenFile, bool Device = false);

/// <summary>What a device shows its user (RFC 8628 §3.3): where to go and the code to type there.</summary>
internal sealed record DevicePrompt(Uri VerificationUri, string UserCode, Uri? VerificationUriComplete);

/// <summary>The tokens of one sign-in or refresh. Only the refresh token is ever written to disk.</summary>
internal sealed record TokenSet(string AccessToken, string? RefreshToken, string? IdToken, DateTimeOffset ExpiresAt);

/// <summary>
/// RFC 8252 sign-in for a command-line app: the system browser, a loopback redirect on a port the operating
/// system picks, PKCE S256, state and nonce, and endpoints from discovery. The browser is handed in, so a test
/// can stand in for it.
/// </summary>
internal sealed class NativeSignIn(HttpClient http, NativeClientSettings settings)
{
    private JsonElement? _metadata;

    /// <summary>How long the app waits for the user to finish in the browser.</summary>
    public TimeSpan CallbackTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public async Task<JsonElement> DiscoverAsync(CancellationToken cancellationToken)
    {
        if (_metadata is { } cached)
        {
            return cached;
        }

        var metadata = await GetJsonAsync(new Uri(settings.Issuer, ".well-known/openid-configuration"), cancellationToken);
        // OpenID Connect Discovery §4.3: the document must name the issuer we asked.
        if (metadata.GetProperty("issuer").GetString() != settings.Issuer.ToString())
        {
            throw new SignInException($"Discovery names issuer {metadata.GetProperty("issuer")}, expected {settings.Issuer}.");
        }

        _metadata = metadata;
        return metadata;
    }

    /// <summary>
    /// The whole front channel: listens on 127.0.0.1 (RFC 8252 §7.3, §8.3: the IP literal, not "localhost"),
    /// hands the authorize URL to <paramref name="openBrowser"/>, waits for the redirect, checks it, and redeems
    /// the code.
    /// </summary>
    public async Task<TokenSet> SignInAsync(Func<Uri, Task> openBrowser, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(openBrowser);
        var metadata = await DiscoverAsync(cancellationToken);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var redirectUri = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/callback";

        var verifier = RandomToken();
        var state = RandomToken();
        var nonce = RandomToken();
        var authorize = new UriBuilder(metadata.GetProperty("authorization_endpoint").GetString()!)
        {
            Query = Form(new()
            {
                ["client_id"] = settings.ClientId,
                ["response_type"] = "code",
                ["redirect_uri"] = redirectUri,
                ["scope"] = settings.Scope,
                ["state"] = state,
                ["nonce"] = nonce,
                ["code_challenge"] = Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))),
                ["code_challenge_method"] = "S256",
            }),
        }.Uri;

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CallbackTimeout);
        var callback = WaitForCallbackAsync(listener, timeout.Token);
        await openBrowser(authorize);
        var query = await callback;

        // Note: RFC 6749 §10.12: the state ties the answer to this sign-in (no injected code from elsewhere).
        if (!query.TryGetValue("state", out var returnedState) || returnedState != state)
        {
            throw new SignInException("The answer does not belong to this sign-in (state mismatch).");
        }

        // Note: RFC 9207: the answer names its issuer, which defeats mix-up between servers.
        if (metadata.TryGetProperty("authorization_response_iss_parameter_supported", out var issSupported) && issSupported.GetBoolean()
            && (!query.TryGetValue("iss", out var iss) || iss != settings.Issuer.ToString()))
        {
            throw new SignInException("The answer comes from another issuer.");
        }

        if (query.TryGetValue("error", out var error))
        {
            throw new SignInException($"The server answered {error}: {query.GetValueOrDefault("error_description")}");
        }

        var tokens = await TokenRequestAsync(new()
        {
            ["grant_type"] = "authorization_code",
            ["code"] = query.GetValueOrDefault("code") ?? throw new SignInException("The answer has no code."),
            ["redirect_uri"] = redirectUri,
            ["code_verifier"] = verifier,
        }, cancellationToken);
        CheckIdToken(tokens.IdToken, nonce);
        return tokens;
    }

    /// <summary>
    /// RFC 8628: asks for a device code, hands the verification URI and user code to <paramref name="show"/> (the
    /// user approves on another screen), then polls the token endpoint at the server's interval, 5 seconds longer
    /// after each <c>slow_down</c>, until the user decides or the code expires.
    /// </summary>
    public async Task<TokenSet> DeviceSignInAsync(Func<DevicePrompt, Task> show, CancellationToken cancellationToken)
    {
        var metadata = await DiscoverAsync(cancellationToken);
        if (Text(metadata, "device_authorization_endpoint") is not { } endpoint)
        {
            throw new SignInException("The server does not offer device sign-in.");
        }

        using var content = new FormUrlEncodedContent(new Dictionary<string, string> { ["client_id"] = settings.ClientId, ["scope"] = settings.Scope });
        using var response = await http.PostAsync(new Uri(endpoint), content, cancellationToken);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken)).RootElement;
        if (!response.IsSuccessStatusCode)
        {
            throw new SignInException($"The device request failed: {Text(body, "error")} {Text(body, "error_description")}".TrimEnd());
        }

        var deviceCode = body.GetProperty("device_code").GetString()!;
        var interval = TimeSpan.FromSeconds(body.TryGetProperty("interval", out var seconds) ? seconds.GetInt32() : 5);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(body.GetProperty("expires_in").GetInt32());
        await show(new DevicePrompt(
            new Uri(body.GetProperty("verification_uri").GetString()!), body.GetProperty("user_code").GetString()!,
            Text(body, "verification_uri_complete") is { } complete ? new Uri(complete) : null));

        while (DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(interval, cancellationToken);
            try
            {
                return await TokenRequestAsync(new() { ["grant_type"] = "urn:ietf:params:oauth:grant-type:device_code", ["device_code"] = deviceCode }, cancellationToken);
            }
            catch (SignInException error) when (error.Error is "authorization_pending" or "slow_down")
            {
                if (error.Error == "slow_down")
                {
                    interval += TimeSpan.FromSeconds(5);
                }
            }
        }

        throw new SignInException("The code expired before it was approved.");
    }

    /// <summary>Redeems a refresh token; the server rotates it, so the caller must keep the new one.</summary>
    public Task<TokenSet> RefreshAsync(string refreshToken, CancellationToken cancellationToken) =>
        TokenRequestAsync(new() { ["grant_type"] = "refresh_token", ["refresh_token"] = refreshToken }, cancellationToken);

    /// <summary>RFC 7009: tells the server to forget the refresh token (and its sign-in).</summary>
    public async Task RevokeAsync(string refreshToken, CancellationToken cancellationToken)
    {
        var metadata = await DiscoverAsync(cancellationToken);
        using var content = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = settings.ClientId,
            ["token"] = refreshToken,
            ["token_type_hint"] = "refresh_token",
        });
        using var response = await http.PostAsync(new Uri(metadata.GetProperty("revocation_endpoint").GetString()!), content, cancellationToken);
    }

    /// <summary>Calls the resource API with the access token; returns the status and the body.</summary>
    public async Task<(HttpStatusCode Status, string Body)> CallApiAsync(string accessToken, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, settings.ApiUrl);
        request.Headers.Authorization = new("Bearer", accessToken);
        using var response = await http.SendAsync(request, cancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
    }

    private async Task<TokenSet> TokenRequestAsync(Dictionary<string, string> parameters, CancellationToken cancellationToken)
    {
        var metadata = await DiscoverAsync(cancellationToken);
        parameters["client_id"] = settings.ClientId;
        using var content = new FormUrlEncodedContent(parameters);
        using var response = await http.PostAsync(new Uri(metadata.GetProperty("token_endpoint").GetString()!), content, cancellationToken);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken)).RootElement;
        if (!response.IsSuccessStatusCode)
        {
            throw new SignInException($"The token request failed: {Text(body, "error")} {Text(body, "error_description")}".TrimEnd()) { Error = Text(body, "error") };
        }

        return new TokenSet(
            body.GetProperty("access_token").GetString()!,
            Text(body, "refresh_token"),
            Text(body, "id_token"),
            DateTimeOffset.UtcNow.AddSeconds(body.TryGetProperty("expires_in", out var expiresIn) ? expiresIn.GetInt32() : 60));
    }

    /// <summary>
    /// The ID token came straight from the token endpoint (OIDC Core §3.1.3.7 lets a code-flow client rely on
    /// the TLS connection instead of the signature); its issuer, audience, lifetime and nonce are still checked.
    /// </summary>
    private void CheckIdToken(string? idToken, string nonce)
    {
        if (idToken is null)
        {
            return;
        }

        var payload = idToken.Split('.') is { Length: 3 } parts
            ? JsonDocument.Parse(Base64UrlDecode(parts[1])).RootElement
            : throw new SignInException("The ID token is malformed.");
        var audience = payload.GetProperty("aud");
        var audiences = audience.ValueKind == JsonValueKind.Array ? audience.EnumerateArray().Select(item => item.GetString()).ToList() : [audience.GetString()];
        if (Text(payload, "iss") != settings.Issuer.ToString() || !audiences.Contains(settings.ClientId)
            || DateTimeOffset.FromUnixTimeSeconds(payload.GetProperty("exp").GetInt64()) < DateTimeOffset.UtcNow
            || Text(payload, "nonce") != nonce)
        {
            throw new SignInException("The ID token is not for this sign-in (issuer, audience, lifetime or nonce).");
        }
    }

    /// <summary>
    /// Accepts connections on the loopback listener until one asks for /callback, answers the browser with a
    /// short page, and returns the query. Anything else (a favicon request) gets a 404.
    /// </summary>
    private static async Task<Dictionary<string, string>> WaitForCallbackAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        while (true)
        {
            using var connection = await listener.AcceptTcpClientAsync(cancellationToken);
            await using var stream = connection.GetStream();
            var requestLine = await ReadRequestLineAsync(stream, cancellationToken);
            var target = requestLine?.Split(' ') is [ "GET", var path, _ ] ? path : null;
            if (target is null || !(target == "/callback" || target.StartsWith("/callback?", StringComparison.Ordinal)))
            {
                await RespondAsync(stream, "404 Not Found", "Not found.", cancellationToken);
                continue;
            }

            var query = ParseQuery(target.Contains('?', StringComparison.Ordinal) ? target[(target.IndexOf('?', StringComparison.Ordinal) + 1)..] : string.Empty);
            await RespondAsync(stream, "200 OK",
                query.ContainsKey("error") ? "Sign-in was not completed. You can close this window." : "Signed in. You can close this window and return to the app.",
                cancellationToken);
            return query;
        }
    }

    private static async Task<string?> ReadRequestLineAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        // Read the head only (at most 16 KiB): a GET carries everything in its request line.
        var buffer = new byte[16 * 1024];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken);
            if (read == 0)
            {
                break;
            }

            length += read;
            if (Encoding.ASCII.GetString(buffer, 0, length).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                break;
            }
        }

        var head = Encoding.ASCII.GetString(buffer, 0, length);
        var end = head.IndexOf("\r\n", StringComparison.Ordinal);
        return end < 0 ? null : head[..end];
    }

    private static async Task RespondAsync(NetworkStream stream, string status, string message, CancellationToken cancellationToken)
    {
        var html = $"<!doctype html><meta charset=\"utf-8\"><title>OAuthServer sample</title><p>{WebUtility.HtmlEncode(message)}</p>";
        var body = Encoding.UTF8.GetBytes(html);
        var head = $"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {body.Length}\r\n" +
                   "Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), cancellationToken);
        await stream.WriteAsync(body, cancellationToken);
    }

    private async Task<JsonElement> GetJsonAsync(Uri uri, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(uri, cancellationToken);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken)).RootElement.Clone();
    }

    private static Dictionary<string, string> ParseQuery(string query) =>
        query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .GroupBy(pair => Uri.UnescapeDataString(pair[0].Replace('+', ' ')))
            .ToDictionary(group => group.Key, group => Uri.UnescapeDataString((group.First() is [_, var value] ? value : string.Empty).Replace('+', ' ')));

    private static string Form(Dictionary<string, string> values) =>
        string.Join('&', values.Select(pair => $"{Uri.EscapeDataString(pair.Key)}={Uri.EscapeDataString(pair.Value)}"));

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>32 bytes from the CSPRNG, base64url: a 43-character PKCE verifier (RFC 7636 §4.1), a state or a nonce.</summary>
    private static string RandomToken() => Base64Url(RandomNumberGenerator.GetBytes(32));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] Base64UrlDecode(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded.PadRight(padded.Length + ((4 - (padded.Length % 4)) % 4), '='));
    }
}

/// <summary>A sign-in that failed for a reason the user should read (not a bug).</summary>
internal sealed class SignInException(string message) : Exception(message)
{
    /// <summary>The OAuth error code of the refusal, when the server gave one.</summary>
    public string? Error { get; init; }
}
