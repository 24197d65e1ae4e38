using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.Security;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// Threat model 1.2: per-IP, per-account and per-client_id budgets, each on both counter stores (in memory and a
/// real Redis; see <see cref="RateLimitServers"/>).
/// </summary>
[Collection(RateLimitServers.Collection)]
public sealed partial class RateLimitTests
{
    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task Login_posts_beyond_the_per_IP_budget_get_429_with_a_friendly_page(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:LoginPerIp:PermitLimit"] = "3" });
        var email = await node.CreateUserAsync();
        var attacker = NewIp();

        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await LoginFromAsync(node, attacker, email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        var refused = await LoginFromAsync(node, attacker, email, "wrong-password-attempt");
        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        (await refused.Content.ReadAsStringAsync()).Should().Contain("Too many sign-in attempts");
        (await LoginFromAsync(node, NewIp(except: attacker), email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "another IP has its own budget");
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task Per_account_budget_holds_across_different_IPs_and_is_spent_before_hashing(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:LoginPerAccount:PermitLimit"] = "3", ["Lockout:MaxFailures"] = "100" });
        var email = await node.CreateUserAsync();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await LoginFromAsync(node, NewIp(), email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        using var hashes = new HashOperationCounter(node);
        var refused = await LoginFromAsync(node, NewIp(), email, TestData.Password);

        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        hashes.Count.Should().Be(0, "a refused attempt costs no Argon2 work");
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task Failed_client_authentication_from_one_IP_is_throttled_without_locking_out_the_real_client(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:ClientAuthFailures:PermitLimit"] = "3" });
        var target = await RegisterServiceClientAsync(node);
        using var api = node.CreateApiClient();
        var attacker = NewIp();

        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await ClientCredentialsAsync(api, attacker, target, "a-guessed-client-secret-that-is-wrong-00")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        (await ClientCredentialsAsync(api, attacker, target, "a-guessed-client-secret-that-is-wrong-01")).StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        (await ClientCredentialsAsync(api, NewIp(except: attacker), target, Secret)).StatusCode.Should().Be(HttpStatusCode.OK, "the real client, elsewhere, is not locked out");
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task Failed_client_authentication_is_capped_per_client_id_across_IPs_but_never_refuses_the_right_secret(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:ClientAuthFailuresPerClient:PermitLimit"] = "3" });
        var target = await RegisterServiceClientAsync(node);
        var bystander = await RegisterServiceClientAsync(node);
        using var api = node.CreateApiClient();
        var guessers = RateLimitServers.ManyIps(3);

        foreach (var guesser in guessers)
        {
            (await ClientCredentialsAsync(api, guesser, target, "a-guessed-client-secret-that-is-wrong-00")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        // The ceiling is spent: an address that has failed for this client_id gets no further attempt, even
        // though its own budget (ClientAuthFailures, 10) has room.
        var refused = await ClientCredentialsAsync(api, guessers[0], target, "a-guessed-client-secret-that-is-wrong-01");
        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        (await BrowserFlow.JsonAsync(refused)).GetProperty("error").GetString().Should().Be("slow_down");
        (await ClientCredentialsAsync(api, NewIp(), target, Secret)).StatusCode.Should().Be(HttpStatusCode.OK, "the right secret from an address that never failed is not refused");
        (await ClientCredentialsAsync(api, guessers[1], bystander, Secret)).StatusCode.Should().Be(HttpStatusCode.OK, "another client is not affected");
    }

    [Fact]
    public async Task Two_nodes_share_one_budget_through_Redis()
    {
        var prefix = "test-" + Guid.NewGuid().ToString("N");
        await using var first = await StartAsync(RateLimitServers.Redis, new() { ["RateLimiting:LoginPerIp:PermitLimit"] = "4" }, redisKeyPrefix: prefix);
        await using var second = await StartAsync(RateLimitServers.Redis, new() { ["RateLimiting:LoginPerIp:PermitLimit"] = "4" }, first.ConnectionString, prefix);
        var email = await first.CreateUserAsync();
        var client = NewIp();

        var answers = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 6; attempt++)
        {
            answers.Add((await LoginFromAsync(attempt % 2 == 0 ? first : second, client, email, "wrong-password-attempt")).StatusCode);
        }

        answers.Take(4).Should().AllBeEquivalentTo(HttpStatusCode.Unauthorized);
        answers.Skip(4).Should().AllBeEquivalentTo(HttpStatusCode.TooManyRequests, "the two nodes spent one budget of 4");
    }

    [Fact]
    public async Task When_Redis_stops_limits_fall_back_to_each_node_and_sign_in_goes_on()
    {
        await using var redis = new RedisTestServer();
        await redis.StartAsync();
        await using var node = await CustomServer.StartAsync(new()
        {
            ["RateLimiting:Enabled"] = "true",
            ["Server:KnownProxies:0"] = "127.0.0.1",
            ["RateLimiting:LoginPerIp:PermitLimit"] = "2",
            ["Redis:Configuration"] = redis.Configuration,
        });
        var email = await node.CreateUserAsync();
        (await LoginFromAsync(node, NewIp(), email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);

        await redis.StopAsync();
        var client = NewIp();

        (await LoginFromAsync(node, client, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "auth must not stop because Redis is gone");
        (await LoginFromAsync(node, client, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await LoginFromAsync(node, client, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "it fails open to the in-memory limiter, not to no limit");
        using var management = node.CreateManagementClient();
        (await management.GetStringAsync("/metrics")).Should().MatchRegex(@"oauth_rate_limit_store_failures_total\{[^}]*\} [1-9]");
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task X_Forwarded_For_is_ignored_when_no_proxy_is_configured(string store)
    {
        // Note: no Server:KnownProxies, so the forwarded-headers middleware does not run.
        await using var node = await RateLimitServers.StartAsync(store, new() { ["Server:KnownProxies:0"] = null, ["RateLimiting:LoginPerIp:PermitLimit"] = "2" });
        var email = await node.CreateUserAsync();

        var answers = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            // Each request claims another address; with no trusted proxy configured, the connection's address counts.
            answers.Add((await LoginFromAsync(node, NewIp(), email, "wrong-password-attempt")).StatusCode);
        }

        answers.Should().Equal(HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests);
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task X_Forwarded_For_from_a_peer_that_is_not_a_known_proxy_is_ignored(string store)
    {
        // Note: a proxy is configured, so the forwarded-headers middleware runs, but it is not the peer: the tests
        // connect from 127.0.0.1. A spoofed header must not give each request a fresh budget.
        await using var node = await RateLimitServers.StartAsync(store, new()
        {
            ["RateLimiting:LoginPerIp:PermitLimit"] = "2",
            ["Server:KnownProxies:0"] = "10.9.9.9",
        });
        var email = await node.CreateUserAsync();

        var answers = new List<HttpStatusCode>();
        var claimed = new List<string>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            claimed.Add(NewIp(except: [.. claimed]));
            answers.Add((await LoginFromAsync(node, claimed[^1], email, "wrong-password-attempt")).StatusCode);
        }

        answers.Should().Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests],
            "the three requests came from one peer, 127.0.0.1, whatever X-Forwarded-For claimed");
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task X_Forwarded_For_from_a_known_proxy_names_the_client_whose_budget_is_spent(string store)
    {
        // The proxy (127.0.0.1, a known proxy) relays two clients: each has its own budget.
        await using var node = await StartAsync(store, new() { ["RateLimiting:LoginPerIp:PermitLimit"] = "2" });
        var email = await node.CreateUserAsync();
        var first = NewIp();
        var second = NewIp(except: first);

        var answers = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            answers.Add((await LoginFromAsync(node, first, email, "wrong-password-attempt")).StatusCode);
        }

        answers.Should().Equal(HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests);
        (await LoginFromAsync(node, second, email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized,
            "the request is counted against the forwarded client, not against the proxy's own address");
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task Authorize_requests_beyond_the_per_IP_budget_get_429_temporarily_unavailable_and_are_counted(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:AuthorizePerIp:PermitLimit"] = "2", ["RateLimiting:AuthorizePerIp:Window"] = "00:00:30" });
        var (clientId, redirectUri) = await node.CreatePublicClientAsync();
        var authorize = BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create()));
        using var api = node.CreateApiClient();
        var client = NewIp();

        for (var attempt = 0; attempt < 2; attempt++)
        {
            (await AuthorizeFromAsync(api, client, authorize)).StatusCode.Should().Be(HttpStatusCode.Redirect, "within the budget the user is sent to sign in");
        }

        var refused = await AuthorizeFromAsync(api, client, authorize);

        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        refused.Headers.RetryAfter!.Delta.Should().BeGreaterThan(TimeSpan.Zero).And.BeLessThanOrEqualTo(TimeSpan.FromSeconds(30));
        refused.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        var error = await BrowserFlow.JsonAsync(refused);
        error.GetProperty("error").GetString().Should().Be("temporarily_unavailable", "RFC 6749 §4.1.2.1's code for an authorization server that can't serve now");
        error.GetProperty("error_description").GetString().Should().NotBeNullOrEmpty();
        (await AuthorizeFromAsync(api, NewIp(except: client), authorize)).StatusCode.Should().Be(HttpStatusCode.Redirect, "another IP has its own budget");

        // Note: only the rate-limit tests turn the limits on, and they run one at a time, so this server's refusal
        // is the only one of this policy in the process (the OpenTelemetry listener sees meters by name).
        using var management = node.CreateManagementClient();
        RateLimitedCount(await management.GetStringAsync("/metrics"), RateLimits.AuthorizePerIp).Should().Be(1);
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task Refusals_carry_Retry_After_and_an_OAuth_error_on_the_token_endpoint(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:TokenPerIp:PermitLimit"] = "2", ["RateLimiting:TokenPerIp:Window"] = "00:00:30" });
        using var api = node.CreateApiClient();
        var client = NewIp();

        for (var attempt = 0; attempt < 2; attempt++)
        {
            (await ClientCredentialsAsync(api, client, "nobody", "x")).StatusCode.Should().NotBe(HttpStatusCode.TooManyRequests);
        }

        var refused = await ClientCredentialsAsync(api, client, "nobody", "x");

        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        refused.Headers.RetryAfter!.Delta.Should().BeGreaterThan(TimeSpan.Zero).And.BeLessThanOrEqualTo(TimeSpan.FromSeconds(30));
        (await BrowserFlow.JsonAsync(refused)).GetProperty("error").GetString().Should().Be("slow_down");
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task A_malformed_body_at_the_token_endpoint_is_a_400_not_a_500(string store)
    {
        await using var node = await StartAsync(store, []);
        using var api = node.CreateApiClient();
        using var content = new StringContent("--x\r\nnot really multipart", System.Text.Encoding.UTF8);
        content.Headers.ContentType = new("multipart/form-data");

        var response = await api.PostAsync("/connect/token", content);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    private const string Secret = RateLimitServers.Secret;

    private static Task<CustomServer> StartAsync(string store, Dictionary<string, string?> settings, string? shared = null, string? redisKeyPrefix = null) =>
        RateLimitServers.StartAsync(store, settings, shared, redisKeyPrefix);

    private static string NewIp(params string[] except) => RateLimitServers.NewIp(except);

    private static async Task<HttpResponseMessage> AuthorizeFromAsync(HttpClient api, string ip, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("X-Forwarded-For", ip);
        return await api.SendAsync(request);
    }

    // The value of oauth_rate_limited_total for one policy in a Prometheus scrape (0 when the series is absent).
    private static double RateLimitedCount(string scrape, string policy) => scrape.Split('\n')
        .Select(line => RateLimitedSample().Match(line))
        .Where(match => match.Success && match.Groups["labels"].Value.Contains($"policy=\"{policy}\"", StringComparison.Ordinal))
        .Sum(match => double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^oauth_rate_limited_total\{(?<labels>[^}]*)\} (?<value>[0-9.eE+]+)")]
    private static partial Regex RateLimitedSample();

    private static Task<HttpResponseMessage> LoginFromAsync(OAuthServerFactory node, string ip, string email, string password) =>
        node.LoginAsync(email, password, forwardedFor: ip);

    private static Task<string> RegisterServiceClientAsync(OAuthServerFactory node) => RateLimitServers.RegisterServiceClientAsync(node);

    private static Task<HttpResponseMessage> ClientCredentialsAsync(HttpClient api, string ip, string clientId, string secret) =>
        RateLimitServers.ClientCredentialsAsync(api, ip, clientId, secret);
}
