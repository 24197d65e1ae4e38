using System.Net;
using System.Security.Cryptography;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// Threat model 1.2: per-IP, per-account and per-client_id budgets, shared through a real Redis. Requests come
/// through a trusted proxy (127.0.0.1 in Server:KnownProxies) that names the client in X-Forwarded-For, so each
/// test can act as several clients from documentation addresses (RFC 5737); only the header differs.
/// </summary>
public sealed class RateLimitTests
{
    [Fact]
    public async Task Login_posts_beyond_the_per_IP_budget_get_429_with_a_friendly_page()
    {
        await using var node = await StartAsync(new() { ["RateLimiting:LoginPerIp:PermitLimit"] = "3" });
        var email = await node.CreateUserAsync();
        var attacker = NewIp();

        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await LoginFromAsync(node, attacker, email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        var refused = await LoginFromAsync(node, attacker, email, "wrong-password-attempt");
        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        (await refused.Content.ReadAsStringAsync()).Should().Contain("Too many sign-in attempts");
        (await LoginFromAsync(node, NewIp(), email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "another IP has its own budget");
    }

    [Fact]
    public async Task Per_account_budget_holds_across_different_IPs_and_is_spent_before_hashing()
    {
        await using var node = await StartAsync(new() { ["RateLimiting:LoginPerAccount:PermitLimit"] = "3", ["Lockout:MaxFailures"] = "100" });
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

    [Fact]
    public async Task Failed_client_authentication_from_one_IP_is_throttled_without_locking_out_the_real_client()
    {
        await using var node = await StartAsync(new() { ["RateLimiting:ClientAuthFailures:PermitLimit"] = "3" });
        var target = await RegisterServiceClientAsync(node);
        using var api = node.CreateApiClient();
        var attacker = NewIp();

        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await ClientCredentialsAsync(api, attacker, target, "a-guessed-client-secret-that-is-wrong-00")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        (await ClientCredentialsAsync(api, attacker, target, "a-guessed-client-secret-that-is-wrong-01")).StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        var legitimate = $"198.51.100.{RandomNumberGenerator.GetInt32(1, 255)}";
        while (legitimate == attacker)
        {
            legitimate = $"198.51.100.{RandomNumberGenerator.GetInt32(1, 255)}";
        }

        (await ClientCredentialsAsync(api, legitimate, target, Secret)).StatusCode.Should().Be(HttpStatusCode.OK, "the real client, elsewhere, is not locked out");
    }

    [Fact]
    public async Task Failed_client_authentication_is_throttled_per_client_id_across_IPs()
    {
        await using var node = await StartAsync(new() { ["RateLimiting:ClientAuthFailuresPerClient:PermitLimit"] = "3" });
        var target = await RegisterServiceClientAsync(node);
        var bystander = await RegisterServiceClientAsync(node);
        using var api = node.CreateApiClient();

        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await ClientCredentialsAsync(api, NewIp(), target, "a-guessed-client-secret-that-is-wrong-00")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        var refused = await ClientCredentialsAsync(api, NewIp(), target, Secret);
        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "even the right secret waits once the budget is spent");
        (await BrowserFlow.JsonAsync(refused)).GetProperty("error").GetString().Should().Be("slow_down");
        (await ClientCredentialsAsync(api, NewIp(), bystander, Secret)).StatusCode.Should().Be(HttpStatusCode.OK, "another client is not affected");
    }

    [Fact]
    public async Task Two_nodes_share_one_budget_through_Redis()
    {
        var redis = Environment.GetEnvironmentVariable("OAUTH_TEST_REDIS") ?? throw new InvalidOperationException("OAUTH_TEST_REDIS is not set: run ops/test.sh.");
        var settings = new Dictionary<string, string?> { ["RateLimiting:LoginPerIp:PermitLimit"] = "4", ["Redis:Configuration"] = redis };
        await using var first = await StartAsync(settings);
        await using var second = await StartAsync(settings, first.ConnectionString);
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
        await using var node = await StartAsync(new() { ["RateLimiting:LoginPerIp:PermitLimit"] = "2", ["Redis:Configuration"] = redis.Configuration });
        var email = await node.CreateUserAsync();
        (await LoginFromAsync(node, NewIp(), email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);

        await redis.StopAsync();
        var client = NewIp();

        (await LoginFromAsync(node, client, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "auth must not stop because Redis is gone");
        (await LoginFromAsync(node, client, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await LoginFromAsync(node, client, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "it fails open to the in-memory limiter, not to no limit");
        using var api = node.CreateApiClient();
        (await api.GetStringAsync("/metrics")).Should().MatchRegex(@"oauth_rate_limit_store_failures_total\{[^}]*\} [1-9]");
    }

    [Fact]
    public async Task X_Forwarded_For_from_an_untrusted_peer_is_ignored()
    {
        await using var node = await CustomServer.StartAsync(new() { ["RateLimiting:Enabled"] = "true", ["RateLimiting:LoginPerIp:PermitLimit"] = "2" });
        var email = await node.CreateUserAsync();

        var answers = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            // Each request claims another address; with no trusted proxy configured, the connection's address counts.
            answers.Add((await LoginFromAsync(node, NewIp(), email, "wrong-password-attempt")).StatusCode);
        }

        answers.Should().Equal(HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task Refusals_carry_Retry_After_and_an_OAuth_error_on_the_token_endpoint()
    {
        await using var node = await StartAsync(new() { ["RateLimiting:TokenPerIp:PermitLimit"] = "2", ["RateLimiting:TokenPerIp:Window"] = "00:00:30" });
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

    [Fact]
    public async Task A_malformed_body_at_the_token_endpoint_is_a_400_not_a_500()
    {
        await using var node = await StartAsync([]);
        using var api = node.CreateApiClient();
        using var content = new StringContent("--x\r\nnot really multipart", System.Text.Encoding.UTF8);
        content.Headers.ContentType = new("multipart/form-data");

        var response = await api.PostAsync("/connect/token", content);

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    private const string Secret = "a-client-secret-for-rate-limit-tests-000";

    private static Task<CustomServer> StartAsync(Dictionary<string, string?> settings, string? shared = null)
    {
        settings["RateLimiting:Enabled"] = "true";
        settings["Server:KnownProxies:0"] = "127.0.0.1";
        return CustomServer.StartAsync(settings, shared);
    }

    private static string NewIp() => $"198.51.100.{RandomNumberGenerator.GetInt32(1, 255)}";

    private static Task<HttpResponseMessage> LoginFromAsync(OAuthServerFactory node, string ip, string email, string password) =>
        node.LoginAsync(email, password, forwardedFor: ip);

    private static async Task<string> RegisterServiceClientAsync(OAuthServerFactory node) => await node.RegisterClientAsync(new ClientRegistration
    {
        ClientId = "svc-" + Guid.NewGuid().ToString("N")[..12],
        Kind = ClientKind.Confidential,
        Secret = Secret,
        AllowClientCredentials = true,
        Scopes = ["api"],
    });

    private static async Task<HttpResponseMessage> ClientCredentialsAsync(HttpClient api, string ip, string clientId, string secret)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret, ["scope"] = "api",
            }),
        };
        request.Headers.Add("X-Forwarded-For", ip);
        return await api.SendAsync(request);
    }
}
