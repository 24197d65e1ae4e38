using System.Text;
using System.Text.Json;
using Npgsql;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// The answers our own middleware gives on the OAuth endpoints (a rate limit's 429, a malformed request's 400 or
/// 405, an unreachable database's 503) are one OAuth error shape (RFC 6749 §5.2 JSON, OpenIddict's content type,
/// no-store), whatever the spelling of the path: the decision "OAuth endpoint or not" is made once, from the one
/// path table, so no spelling gets a page, a ProblemDetails or another content type instead. Each spelling is sent
/// byte for byte (RawHttp: HttpClient would tidy some of them).
/// </summary>
public static class ProtocolPathSpellings
{
    public const string ContentType = "application/json;charset=UTF-8";

    /// <summary>The path itself and its respellings (for a path of the form /a/b).</summary>
    public static IEnumerable<string> Of(string path)
    {
        var (first, second) = (path.Split('/')[1], path.Split('/')[2]);
        yield return path;
        yield return path.ToUpperInvariant();
        yield return $"/{char.ToUpperInvariant(first[0])}{first[1..]}/{char.ToUpperInvariant(second[0])}{second[1..]}";
        yield return path + "/";
        yield return path + "//";
        yield return $"/{first}//{second}";
        yield return "//" + path[1..];
        yield return $"/{first}%2F{second}";
        yield return $"/{first}%2f{second}/";
        yield return $"/{first}%5C{second}";
        yield return $"/{first}\\{second}";
        // Not designed for (the classifier never sees them: Kestrel decodes escapes and removes dot segments
        // first), and combinations of the above.
        yield return $"/{first}/%2e/{second}";
        yield return $"/{first}/x/%2E%2E/{second}";
        yield return $"/%{(int)first[0]:X2}{first[1..]}/%{(int)second[0]:x2}{second[1..]}";
        yield return $"///{first.ToUpperInvariant()}%2F%2F{second}%5C/";
    }

    /// <summary>The spellings OpenIddict itself serves (it ignores case and one trailing slash).</summary>
    public static IEnumerable<string> ServedOf(string path) => [path, path.ToUpperInvariant(), path + "/"];

    public static Task<RawResponse> SendAsync(OAuthServerFactory node, string method, string target, string? form, params string[] headers)
    {
        var lines = new List<string>(headers);
        if (form is not null)
        {
            lines.Add("Content-Type: application/x-www-form-urlencoded");
        }

        return RawHttp.SendAsync(node.Port, RawHttp.Request(method, target, node.Port, lines, form is null ? null : Encoding.ASCII.GetBytes(form)), TimeSpan.FromSeconds(30));
    }
}

/// <summary>
/// What a client (or a cache) can tell apart in an error answer. Cache-Control counts by its no-store directive:
/// ASP.NET Core's exception handler rewrites the cache headers of every answer it makes ("no-cache,no-store"),
/// which says the same to a cache as OpenIddict's "no-store".
/// </summary>
public sealed record ErrorShape(int Status, string? ContentType, bool NoStore, string? Pragma, bool RetryAfter, string? Allow, string Members, string? Error)
{
    public static ErrorShape Of(RawResponse response)
    {
        var (members, error) = ("(not a JSON object)", (string?)null);
        try
        {
            using var json = JsonDocument.Parse(response.Body);
            if (json.RootElement.ValueKind == JsonValueKind.Object)
            {
                members = string.Join(',', json.RootElement.EnumerateObject().Select(member => member.Name));
                error = json.RootElement.TryGetProperty("error", out var value) ? value.GetString() : null;
            }
        }
        catch (JsonException)
        {
        }

        var noStore = (response.Header("Cache-Control") ?? string.Empty).Split(',').Any(directive => directive.Trim().Equals("no-store", StringComparison.OrdinalIgnoreCase));
        return new(response.Status, response.Header("Content-Type"), noStore, response.Header("Pragma"),
            response.Header("Retry-After") is not null, response.Header("Allow"), members, error);
    }

    /// <summary>The one OAuth error shape of our middleware.</summary>
    public static ErrorShape OAuth(int status, string error, bool retryAfter = false, string? allow = null) =>
        new(status, ProtocolPathSpellings.ContentType, NoStore: true, "no-cache", retryAfter, allow, "error,error_description", error);
}

[Collection(RateLimitServers.Collection)]
public sealed class RateLimitErrorShapeTests
{
    [Fact]
    public async Task Every_spelling_of_a_limited_protocol_endpoint_gets_the_same_OAuth_429()
    {
        await using var node = await RateLimitServers.StartAsync(RateLimitServers.Memory, new()
        {
            ["RateLimiting:TokenPerIp:PermitLimit"] = "1",
            ["RateLimiting:AuthorizePerIp:PermitLimit"] = "1",
        });
        var wrong = new List<string>();
        var octet = 1;
        foreach (var endpoint in new[] { "/connect/token", "/connect/introspect", "/connect/revoke", "/connect/par", "/connect/authorize" })
        {
            var expected = ErrorShape.OAuth(429, endpoint == "/connect/authorize" ? "temporarily_unavailable" : "slow_down", retryAfter: true);
            foreach (var spelling in ProtocolPathSpellings.Of(endpoint))
            {
                var ip = $"X-Forwarded-For: 192.0.2.{octet++}";
                (await SendAsync(node, endpoint, endpoint, ip)).Status.Should().NotBe(429, "the first request of an address is within its budget of one");
                var shape = ErrorShape.Of(await SendAsync(node, endpoint, spelling, ip));
                if (shape != expected)
                {
                    wrong.Add($"{spelling}: {shape}");
                }
            }
        }

        wrong.Should().BeEmpty("every spelling is the same endpoint, so its refusal is the same OAuth error");
    }

    private static Task<RawResponse> SendAsync(OAuthServerFactory node, string endpoint, string target, string ip) =>
        endpoint == "/connect/authorize"
            ? ProtocolPathSpellings.SendAsync(node, "GET", target + "?client_id=nobody&response_type=code", null, ip)
            : ProtocolPathSpellings.SendAsync(node, "POST", target, "grant_type=client_credentials&token=x", ip);
}

public sealed class MalformedRequestErrorShapeTests
{
    private static readonly string[] ClientAuthenticating = ["/connect/token", "/connect/introspect", "/connect/revoke", "/connect/par"];

    // Every protocol endpoint, the registration endpoint, and a path under /connect that nothing serves.
    private static readonly string[] Protocol = [.. ClientAuthenticating, "/connect/authorize", "/connect/userinfo", "/connect/endsession", "/connect/register", "/connect/nothing"];

    [Fact]
    public async Task Every_spelling_of_a_protocol_path_gets_the_same_OAuth_400_and_405()
    {
        await using var node = await CustomServer.StartAsync();
        var wrong = new List<string>();
        foreach (var path in Protocol)
        {
            foreach (var spelling in ProtocolPathSpellings.Of(path))
            {
                // A NUL in a form value: refused before any endpoint sees it.
                Check(spelling + " (NUL in the form)", await ProtocolPathSpellings.SendAsync(node, "POST", spelling, "grant_type=a%00b"),
                    ErrorShape.OAuth(400, "invalid_request"));

                // A GET of a client-authenticating endpoint (credentials in the URL) is refused before its query is read.
                Check(spelling + " (GET with a NUL in the query)", await ProtocolPathSpellings.SendAsync(node, "GET", spelling + "?client_secret=a%00b", null),
                    ClientAuthenticating.Contains(path) ? ErrorShape.OAuth(405, "invalid_request", allow: "POST") : ErrorShape.OAuth(400, "invalid_request"));
            }
        }

        wrong.Should().BeEmpty("every spelling of a protocol path gets the OAuth error shape");

        void Check(string what, RawResponse response, ErrorShape expected)
        {
            var shape = ErrorShape.Of(response);
            if (shape != expected)
            {
                wrong.Add($"{what}: {shape}");
            }
        }
    }

    [Fact]
    public async Task Our_OAuth_errors_have_the_content_type_and_cache_headers_of_OpenIddicts_own()
    {
        await using var node = await CustomServer.StartAsync();

        var openIddict = ErrorShape.Of(await ProtocolPathSpellings.SendAsync(node, "POST", "/connect/token", "grant_type=nonsense"));
        var ours = ErrorShape.Of(await ProtocolPathSpellings.SendAsync(node, "POST", "/connect/token", "grant_type=a%00b"));

        openIddict.Status.Should().Be(400);
        openIddict.Error.Should().Be("unsupported_grant_type", "this answer comes from OpenIddict, not from our middleware");
        ours.Should().Be(openIddict with { Error = "invalid_request", Members = "error,error_description" });
    }

    [Fact]
    public async Task OpenIddicts_answers_are_compact_json_like_ours()
    {
        await using var node = await CustomServer.StartAsync();

        var error = await ProtocolPathSpellings.SendAsync(node, "POST", "/connect/token", "grant_type=nonsense");
        var discovery = await ProtocolPathSpellings.SendAsync(node, "GET", "/.well-known/openid-configuration", null);

        error.Body.Should().StartWith("{\"error\":\"unsupported_grant_type\"").And.NotContain("\n");
        discovery.Body.Should().StartWith("{\"issuer\":").And.NotContain("\n");
    }
}

public sealed class DatabaseOutageErrorShapeTests
{
    // The endpoints whose CORS policy reads the registered SPA origins from the database.
    private static readonly string[] SinglePageAppEndpoints = ["/connect/token", "/connect/revoke", "/connect/userinfo"];

    [Fact]
    public async Task Every_spelling_of_a_protocol_endpoint_gets_the_same_OAuth_503_while_the_database_is_away()
    {
        await using var database = await TestDatabase.CreateAsync("oauth_outage_shape");
        var upstream = new NpgsqlConnectionStringBuilder(OAuthServerFactory.PostgresServer);
        await using var proxy = new TcpProxy(upstream.Port);
        proxy.Start();
        var throughProxy = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Port = proxy.Port, Timeout = 3 }.ConnectionString;
        await using var node = await CustomServer.StartAsync(sharedConnectionString: throughProxy);
        (await ProtocolPathSpellings.SendAsync(node, "GET", "/health/ready", null)).Status.Should().Be(200);

        await proxy.StopAsync();

        var expected = ErrorShape.OAuth(503, "temporarily_unavailable", retryAfter: true);
        var wrong = new List<string>();
        foreach (var path in SinglePageAppEndpoints)
        {
            // Note: a cross-origin request (from an origin no client registered) makes the CORS policy read the
            // registrations, on every spelling that names the endpoint, served by OpenIddict or not.
            foreach (var spelling in ProtocolPathSpellings.Of(path))
            {
                Check(spelling + " (cross-origin)", await ProtocolPathSpellings.SendAsync(node, "POST", spelling,
                    "grant_type=refresh_token&client_id=spa&refresh_token=x&token=x", "Origin: https://spa.example"));
            }
        }

        // Without an Origin, the spellings OpenIddict serves reach its own database reads (the client's registration).
        foreach (var spelling in ProtocolPathSpellings.ServedOf("/connect/token"))
        {
            Check(spelling, await ProtocolPathSpellings.SendAsync(node, "POST", spelling, "grant_type=refresh_token&client_id=spa&refresh_token=x"));
        }

        foreach (var spelling in ProtocolPathSpellings.ServedOf("/connect/authorize"))
        {
            Check(spelling, await ProtocolPathSpellings.SendAsync(node, "GET",
                spelling + "?client_id=spa&response_type=code&redirect_uri=https%3A%2F%2Fspa.example%2Fcb&scope=openid", null));
        }

        wrong.Should().BeEmpty("every spelling of a protocol endpoint gets the OAuth 503");

        void Check(string what, RawResponse response)
        {
            var shape = ErrorShape.Of(response);
            if (shape != expected)
            {
                wrong.Add($"{what}: {shape} {response.Body}");
            }
        }
    }
}
