using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Observability;

/// <summary>
/// Threat model 4.3: the server runs as its own process with JSON console logs at Debug level for every
/// component; a test signs in, refreshes, revokes, registers a client and fails a login, then reads every
/// line the process wrote and looks for each secret it used.
/// </summary>
public sealed class LogRedactionTests : IAsyncLifetime
{
    private const string Pepper = "the-deployment-pepper-must-not-leak";
    private const string ClientSecret = "a-client-secret-that-must-never-be-logged-42";
    private readonly string _folder = Directory.CreateTempSubdirectory("oauth-logs-").FullName;
    private readonly ConcurrentQueue<string> _lines = new();
    private TestDatabase? _database;
    private Process? _server;
    private int _port;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateMigratedAsync("oauth_logs");
        _port = TestPorts.Free();
        _server = await ServerBinary.ServeAsync(new Uri($"http://127.0.0.1:{_port}/"), Environment(), _lines);
    }

    public async Task DisposeAsync()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync();
        }

        _server?.Dispose();
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task No_secret_used_in_a_full_session_appears_in_any_log_line()
    {
        var baseUri = new Uri($"http://127.0.0.1:{_port}/");
        var cookies = new CookieContainer();
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = cookies }) { BaseAddress = baseUri };
        using var api = new HttpClient { BaseAddress = baseUri };
        const string email = "log-test@example.com";
        const string password = "quiet-harbour-lantern-77";
        const string redirectUri = "http://127.0.0.1:8123/logs/callback";

        (await RunCliAsync(["users", "add", "--email", email, "--password-stdin"], password)).Should().Be(0);
        (await RunCliAsync(["clients", "add", "--client-id", "logs-app", "--type", "confidential", "--redirect-uri", redirectUri,
            "--scope", "openid", "--scope", "offline_access", "--scope", "api", "--consent", "implicit", "--secret-stdin"], ClientSecret)).Should().Be(0);

        // A failed login, then a full sign-in through the form.
        await PostLoginAsync(browser, email, "a-wrong-password-for-logs", "/");
        var pkce = Pkce.Create();
        var authorize = BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters("logs-app", redirectUri, pkce));
        var toLogin = await browser.GetAsync(authorize);
        toLogin.StatusCode.Should().Be(HttpStatusCode.Redirect, await toLogin.Content.ReadAsStringAsync());
        var returnUrl = Uri.UnescapeDataString(toLogin.Headers.Location!.Query.Split("ReturnUrl=")[1]);
        var back = await PostLoginAsync(browser, email, password, returnUrl);
        var callback = await browser.GetAsync(back.Headers.Location);
        var code = BrowserFlow.Query(callback.Headers.Location!)["code"];

        // A pushed authorization request (RFC 9126): its request_uri stands for the whole request until it is used.
        var pushed = await api.PostAsync("/connect/par", Form(new()
        {
            ["client_id"] = "logs-app", ["client_secret"] = ClientSecret, ["response_type"] = "code", ["redirect_uri"] = redirectUri,
            ["scope"] = "openid", ["code_challenge"] = Pkce.Create().Challenge, ["code_challenge_method"] = "S256",
        }));
        pushed.StatusCode.Should().Be(HttpStatusCode.Created, await pushed.Content.ReadAsStringAsync());
        var requestUri = JsonDocument.Parse(await pushed.Content.ReadAsStringAsync()).RootElement.GetProperty("request_uri").GetString()!;
        (await browser.GetAsync($"/connect/authorize?client_id=logs-app&request_uri={Uri.EscapeDataString(requestUri)}")).StatusCode.Should().Be(HttpStatusCode.Redirect);

        var tokens = await (await api.PostAsync("/connect/token", Form(new()
        {
            ["grant_type"] = "authorization_code", ["client_id"] = "logs-app", ["client_secret"] = ClientSecret,
            ["redirect_uri"] = redirectUri, ["code"] = code, ["code_verifier"] = pkce.Verifier,
        }))).ShouldSucceedAsync();
        var accessToken = tokens.GetProperty("access_token").GetString()!;
        var idToken = tokens.GetProperty("id_token").GetString()!;
        var refreshToken = tokens.GetProperty("refresh_token").GetString()!;
        var refreshed = await (await api.PostAsync("/connect/token", Form(new()
        {
            ["grant_type"] = "refresh_token", ["client_id"] = "logs-app", ["client_secret"] = ClientSecret, ["refresh_token"] = refreshToken,
        }))).ShouldSucceedAsync();
        var newRefreshToken = refreshed.GetProperty("refresh_token").GetString()!;
        await api.PostAsync("/connect/token", Form(new() { ["grant_type"] = "refresh_token", ["client_id"] = "logs-app", ["client_secret"] = ClientSecret, ["refresh_token"] = refreshToken }));
        using (var userinfo = new HttpRequestMessage(HttpMethod.Get, "/connect/userinfo"))
        {
            userinfo.Headers.Authorization = new("Bearer", accessToken);
            await api.SendAsync(userinfo);
        }

        await api.PostAsync("/connect/revoke", Form(new() { ["client_id"] = "logs-app", ["client_secret"] = ClientSecret, ["token"] = newRefreshToken }));
        await Task.Delay(500); // let the last lines flush

        var lines = _lines.ToArray();
        var serverLines = lines.Where(line => line.StartsWith('{')).ToList();
        serverLines.Should().NotBeEmpty();
        foreach (var line in serverLines)
        {
            var parse = () => JsonDocument.Parse(line);
            parse.Should().NotThrow("every log line is one JSON object: {0}", line);
        }

        serverLines.Should().Contain(line => line.Contains("audit login.failed", StringComparison.Ordinal), "failures are audited, in redacted JSON");
        lines.Should().Contain(line => line.Contains("TraceId", StringComparison.Ordinal), "request logs carry a trace id");
        var sessionCookie = cookies.GetCookies(baseUri).Select(cookie => cookie.Value).ToList();
        var secrets = new[] { password, "a-wrong-password-for-logs", ClientSecret, Pepper, code, accessToken, idToken, refreshToken, newRefreshToken, pkce.Verifier, requestUri[(requestUri.LastIndexOf(':') + 1)..] }
            .Concat(sessionCookie).Concat([accessToken.Split('.')[2], refreshToken[..20]]);
        var leaks = secrets.SelectMany(secret => lines.Where(line => line.Contains(secret, StringComparison.Ordinal))
            .Select(line => $"secret {secret[..Math.Min(8, secret.Length)]}… in: {line}")).ToList();
        leaks.Should().BeEmpty("no secret may reach a log sink");
    }

    private static FormUrlEncodedContent Form(Dictionary<string, string> fields) => new(fields);

    private static async Task<HttpResponseMessage> PostLoginAsync(HttpClient browser, string email, string password, string returnUrl)
    {
        var page = await browser.GetAsync("/account/login?returnUrl=" + Uri.EscapeDataString(returnUrl));
        var fields = BrowserFlow.HiddenFields(await page.Content.ReadAsStringAsync());
        fields["email"] = email;
        fields["password"] = password;
        return await browser.PostAsync("/account/login", new FormUrlEncodedContent(fields));
    }

    private async Task<int> RunCliAsync(string[] args, string stdin)
    {
        var (exitCode, output, error) = await ServerBinary.RunAsync(args, Environment(), stdin + "\n");
        foreach (var line in (output + "\n" + error).Split('\n'))
        {
            _lines.Enqueue(line);
        }

        return exitCode;
    }

    // Development (so the server mints its own keys), at Debug everywhere. The operator asks for the plain
    // "simple" console formatter, which would print messages unredacted: the server keeps its redacting one.
    private Dictionary<string, string> Environment() => new()
    {
        ["Logging__Console__FormatterName"] = "simple",
        ["ASPNETCORE_ENVIRONMENT"] = "Development",
        ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{_port}",
        ["Database__Provider"] = "Postgres",
        ["ConnectionStrings__OAuthServer"] = _database!.ConnectionString,
        ["Server__Issuer"] = $"http://127.0.0.1:{_port}/",
        ["Keys__Path"] = Path.Combine(_folder, "keys"),
        ["Argon2__Pepper"] = Pepper,
        ["Logging__LogLevel__Default"] = "Debug",
        ["Logging__LogLevel__Microsoft.AspNetCore"] = "Debug",
        ["Logging__LogLevel__Microsoft.EntityFrameworkCore"] = "Debug",
        ["Logging__LogLevel__OpenIddict"] = "Debug",
    };
}
