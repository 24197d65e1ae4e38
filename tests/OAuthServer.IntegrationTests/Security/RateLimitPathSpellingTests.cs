using System.Text;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.Security.RateLimitServers;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// Threat model 1.2: a limit applies to the endpoint as OpenIddict and routing resolve it, so respelling the path
/// (case, trailing or repeated slashes, percent-escapes, dot segments) must not give a fresh budget. Each spelling
/// is sent byte for byte (RawHttp: HttpClient would tidy some of them) from an address whose budget the
/// canonical spelling has just spent.
/// </summary>
[Collection(RateLimitServers.Collection)]
public sealed class RateLimitPathSpellingTests
{
    // Every per-address budget set to one request, so the second request of an address is refused.
    private static Dictionary<string, string?> OneEach() => new()
    {
        ["RateLimiting:TokenPerIp:PermitLimit"] = "1",
        ["RateLimiting:AuthorizePerIp:PermitLimit"] = "1",
        ["RateLimiting:LoginPerIp:PermitLimit"] = "1",
    };

    private static readonly string[] Endpoints = ["/connect/token", "/connect/introspect", "/connect/revoke", "/connect/par", "/connect/authorize", "/account/login"];

    /// <summary>The spellings of <paramref name="path"/> (of the form /a/b) an attacker tries.</summary>
    private static IEnumerable<string> Spellings(string path)
    {
        var (first, second) = (path.Split('/')[1], path.Split('/')[2]);
        yield return path + "/";
        yield return path.ToUpperInvariant();
        yield return $"/{char.ToUpperInvariant(first[0])}{first[1..]}/{char.ToUpperInvariant(second[0])}{second[1..]}/";
        yield return path + "//";
        yield return $"/{first}//{second}";
        yield return "//" + path.TrimStart('/');
        yield return $"/{first}/%{(int)second[0]:X2}{second[1..]}";
        yield return $"/%{(int)first[0]:x2}{first[1..]}/{second}/";
        yield return $"/{first}%2F{second}";
        yield return $"/{first}%2f{second}";
        yield return $"/{first}/./{second}";
        yield return $"/{first}/x/../{second}";
        yield return $"/{first}/{second}/.";
    }

    [Theory]
    [MemberData(nameof(Stores), MemberType = typeof(RateLimitServers))]
    public async Task Every_spelling_of_a_limited_endpoint_spends_the_same_budget(string store)
    {
        await using var node = await StartAsync(store, OneEach());
        var escaped = new List<string>();
        var octet = 1;
        foreach (var endpoint in Endpoints)
        {
            foreach (var spelling in Spellings(endpoint))
            {
                var ip = $"192.0.2.{octet++}";
                var first = await SendAsync(node, endpoint, endpoint, ip);
                first.Status.Should().NotBe(429, $"{endpoint} from {ip} has a budget of one");
                var second = await SendAsync(node, endpoint, spelling, ip);
                if (second.Status != 429)
                {
                    escaped.Add($"{spelling} -> {second.Status}");
                }
            }
        }

        escaped.Should().BeEmpty("no spelling of a limited endpoint may escape its budget");
    }

    [Theory]
    [MemberData(nameof(Stores), MemberType = typeof(RateLimitServers))]
    public async Task The_spellings_OpenIddict_and_routing_accept_are_real_endpoints_so_they_must_be_limited(string store)
    {
        // Note: the reason the test above matters: these spellings reach the endpoint (an OAuth error or the login
        // form's 400, not a 404), so a limiter that compared paths exactly would have let them through.
        await using var node = await StartAsync(store, []);
        var octet = 1;
        foreach (var spelling in new[] { "/connect/token/", "/CONNECT/TOKEN", "/connect/introspect/", "/connect/revoke/", "/connect/par/", "/Connect/Authorize/", "/account/login/" })
        {
            var endpoint = spelling.TrimEnd('/').ToLowerInvariant();
            (await SendAsync(node, endpoint, spelling, $"192.0.2.{octet++}")).Status.Should().NotBe(404, $"{spelling} is served");
        }
    }

    // A request fit for the endpoint: a GET with a query at authorize, a form POST elsewhere.
    private static Task<RawResponse> SendAsync(OAuthServerFactory node, string endpoint, string target, string ip)
    {
        var headers = new List<string> { $"X-Forwarded-For: {ip}" };
        if (endpoint == "/connect/authorize")
        {
            return RawHttp.SendAsync(node.Port, RawHttp.Request("GET", target + "?client_id=nobody&response_type=code", node.Port, headers, null), TimeSpan.FromSeconds(30));
        }

        headers.Add("Content-Type: application/x-www-form-urlencoded");
        var body = Encoding.ASCII.GetBytes(endpoint == "/account/login" ? "Email=a%40example.com&Password=x" : "grant_type=client_credentials&token=x");
        return RawHttp.SendAsync(node.Port, RawHttp.Request("POST", target, node.Port, headers, body), TimeSpan.FromSeconds(30));
    }
}
