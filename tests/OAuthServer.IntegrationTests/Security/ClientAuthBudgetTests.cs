using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.Security.RateLimitServers;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// Threat model 1.2, the client-auth budgets attacked: a stranger spending a client's budget from other
/// addresses, a parallel burst that races the check, an IPv6 /64 posing as many clients, and legitimate
/// back-channel volume from one address. Each test runs on both counter stores.
/// </summary>
[Collection(RateLimitServers.Collection)]
public sealed class ClientAuthBudgetTests
{
    [Theory]
    [MemberData(nameof(Stores), MemberType = typeof(RateLimitServers))]
    public async Task Strangers_sending_secrets_for_a_public_client_do_not_lock_out_its_users(string store)
    {
        await using var node = await StartAsync(store, new()
        {
            ["RateLimiting:ClientAuthFailures:PermitLimit"] = "2",
            ["RateLimiting:ClientAuthFailuresPerClient:PermitLimit"] = "5",
        });
        var signedIn = await SignedIn.StartAsync(node);
        using var api = node.CreateApiClient();

        // The attack: junk refresh requests carrying a client_secret (always invalid_client for a public client),
        // from ten addresses, well past every budget of the client_id.
        var answers = new List<HttpStatusCode>();
        foreach (var ip in ManyIps(10))
        {
            for (var attempt = 0; attempt < 3; attempt++)
            {
                answers.Add((await PostFormAsync(api, ip, "/connect/token", new()
                {
                    ["grant_type"] = "refresh_token", ["client_id"] = signedIn.ClientId, ["client_secret"] = "junk", ["refresh_token"] = "junk",
                })).Status());
            }
        }

        answers.Should().OnlyContain(status => status == HttpStatusCode.Unauthorized || status == HttpStatusCode.TooManyRequests);
        answers.Should().Contain(HttpStatusCode.TooManyRequests, "the strangers spent their own budgets");

        // The SPA's users send no secret: neither code redemption nor refresh is refused.
        var tokens = await signedIn.RedeemAsync(api);
        using var refreshed = await api.RefreshAsync(signedIn.ClientId, tokens.GetProperty("refresh_token").GetString()!);
        refreshed.StatusCode.Should().Be(HttpStatusCode.OK);
        using var again = await PostFormAsync(api, ManyIps(1)[0], "/connect/token", new()
        {
            ["grant_type"] = "refresh_token", ["client_id"] = signedIn.ClientId, ["refresh_token"] = "junk",
        });
        again.StatusCode.Should().Be(HttpStatusCode.BadRequest, "even from an address that attacked, a request without a secret is judged (invalid_grant), not refused");
    }

    [Theory]
    [MemberData(nameof(Stores), MemberType = typeof(RateLimitServers))]
    public async Task A_distributed_guesser_of_a_confidential_secret_never_locks_out_the_real_client(string store)
    {
        await using var node = await StartAsync(store, new()
        {
            ["RateLimiting:ClientAuthFailures:PermitLimit"] = "3",
            ["RateLimiting:ClientAuthFailuresPerClient:PermitLimit"] = "6",
        });
        var target = await RegisterServiceClientAsync(node);
        using var api = node.CreateApiClient();
        var attackers = ManyIps(10);

        var unauthorized = 0;
        foreach (var (ip, index) in attackers.Select((ip, index) => (ip, index)))
        {
            for (var attempt = 0; attempt < 4; attempt++)
            {
                // Note: half the guessers put their guesses in HTTP Basic, half in the body; both spend one budget.
                var guess = $"a-guessed-client-secret-{attempt:00}";
                var answer = index % 2 == 0 ? await ClientCredentialsAsync(api, ip, target, guess) : await ClientCredentialsBasicAsync(api, ip, target, guess);
                if (answer.Status() == HttpStatusCode.Unauthorized)
                {
                    unauthorized++;
                }
            }
        }

        // Each address gets its pair budget until the client_id's ceiling (6) is spent, then one guess more at most
        // (the first from an address that has not failed yet): 2 addresses x 3, then 8 x 1.
        unauthorized.Should().BeLessThanOrEqualTo(6 + 8);
        (await ClientCredentialsAsync(api, attackers[0], target, "a-guessed-client-secret-99")).Status().Should().Be(HttpStatusCode.TooManyRequests);
        var fresh = NewIp();
        (await ClientCredentialsAsync(api, fresh, target, "a-guessed-client-secret-98")).Status().Should().Be(HttpStatusCode.Unauthorized, "a new address gets one guess");
        (await ClientCredentialsAsync(api, fresh, target, "a-guessed-client-secret-97")).Status().Should().Be(HttpStatusCode.TooManyRequests, "and no second one while the ceiling is spent");

        // The real client, from its own address, with the right secret, after the flood and during it.
        var real = NewIp(except: fresh);
        for (var attempt = 0; attempt < 4; attempt++)
        {
            (await ClientCredentialsAsync(api, real, target, Secret)).Status().Should().Be(HttpStatusCode.OK);
            (await ClientCredentialsBasicAsync(api, real, target, Secret)).Status().Should().Be(HttpStatusCode.OK);
        }
    }

    [Theory]
    [MemberData(nameof(Stores), MemberType = typeof(RateLimitServers))]
    public async Task Secrets_guessed_in_a_query_string_are_refused_unread_at_every_client_authenticating_endpoint(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:ClientAuthFailures:PermitLimit"] = "3" });
        var target = await RegisterServiceClientAsync(node);
        using var api = node.CreateApiClient();
        var attacker = NewIp();

        // The attack: OpenIddict reads an introspection request from a GET query too, where the budgets (which read
        // credentials from the header and the body) would not see the client_id. Other methods and endpoints alike.
        var answers = new List<HttpResponseMessage>();
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Put, HttpMethod.Delete })
        {
            foreach (var path in new[] { "/connect/introspect", "/connect/introspect/", "/Connect/Token", "/connect/revoke", "/connect/par" })
            {
                for (var attempt = 0; attempt < 3; attempt++)
                {
                    using var request = new HttpRequestMessage(method, $"{path}?client_id={target}&client_secret=a-guessed-client-secret-{attempt:00}&token=x&grant_type=client_credentials");
                    request.Headers.Add("X-Forwarded-For", attacker);
                    answers.Add(await api.SendAsync(request));
                }
            }
        }

        foreach (var answer in answers)
        {
            answer.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed, answer.RequestMessage!.RequestUri!.ToString());
            answer.Content.Headers.Allow.Should().Equal("POST");
            (await answer.Content.ReadAsStringAsync()).Should().Contain("invalid_request");
            answer.Dispose();
        }

        // No guess was judged, so the attacker's address still has its whole budget for a POST, and the right secret works.
        (await ClientCredentialsAsync(api, attacker, target, Secret, "/connect/introspect")).Status().Should().NotBe(HttpStatusCode.TooManyRequests);
        (await ClientCredentialsAsync(api, attacker, target, Secret)).Status().Should().Be(HttpStatusCode.OK);
    }

    [Theory]
    [MemberData(nameof(Stores), MemberType = typeof(RateLimitServers))]
    public async Task A_parallel_burst_of_wrong_secrets_gets_no_more_401s_than_the_budget(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:ClientAuthFailures:PermitLimit"] = "4" });
        var target = await RegisterServiceClientAsync(node);
        using var api = node.CreateApiClient();
        var attacker = NewIp();

        // Note: 40 guesses at once: a check that only looked at the failures already counted would pass them all,
        // since none has failed yet when the others are checked.
        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(attempt =>
            ClientCredentialsAsync(api, attacker, target, $"a-guessed-client-secret-{attempt:00}").ContinueWith(task => task.Result.Status(), TaskScheduler.Default)));

        answers.Count(status => status == HttpStatusCode.Unauthorized).Should().BeLessThanOrEqualTo(4);
        answers.Should().OnlyContain(status => status == HttpStatusCode.Unauthorized || status == HttpStatusCode.TooManyRequests);
        (await ClientCredentialsAsync(api, attacker, target, "a-guessed-client-secret-99")).Status().Should().Be(HttpStatusCode.TooManyRequests);
        (await ClientCredentialsAsync(api, NewIp(except: attacker), target, Secret)).Status().Should().Be(HttpStatusCode.OK, "the real client elsewhere is unaffected");
    }

    [Theory]
    [MemberData(nameof(Stores), MemberType = typeof(RateLimitServers))]
    public async Task Authenticated_clients_spend_their_own_budget_not_their_addresses(string store)
    {
        await using var node = await StartAsync(store, new()
        {
            ["RateLimiting:TokenPerIp:PermitLimit"] = "3",
            ["RateLimiting:TokenPerClient:PermitLimit"] = "12",
        });
        var backend = await RegisterServiceClientAsync(node);
        using var api = node.CreateApiClient();
        var address = NewIp();

        // A backend (or a resource server introspecting) from one address: far past the address's budget of 3.
        for (var attempt = 0; attempt < 12; attempt++)
        {
            (await ClientCredentialsAsync(api, address, backend, Secret)).Status().Should().Be(HttpStatusCode.OK, $"request {attempt + 1} authenticated");
        }

        using var spent = await ClientCredentialsAsync(api, address, backend, Secret);
        spent.StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "the client's own budget of 12 holds");
        (await BrowserFlow.JsonAsync(spent)).GetProperty("error").GetString().Should().Be("slow_down");

        // The address's budget for requests that authenticate no one is untouched, and still holds.
        var unauthenticated = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 4; attempt++)
        {
            unauthenticated.Add((await PostFormAsync(api, address, "/connect/token", new() { ["grant_type"] = "client_credentials", ["client_id"] = "nobody" })).Status());
        }

        unauthenticated.Take(3).Should().NotContain(HttpStatusCode.TooManyRequests);
        unauthenticated[3].Should().Be(HttpStatusCode.TooManyRequests);
    }

    [Theory]
    [MemberData(nameof(Stores), MemberType = typeof(RateLimitServers))]
    public async Task The_addresses_of_one_IPv6_64_share_one_budget(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:TokenPerIp:PermitLimit"] = "2" });
        using var api = node.CreateApiClient();
        var form = new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["client_id"] = "nobody" };

        (await PostFormAsync(api, "2001:db8:1:2::a", "/connect/token", form)).Status().Should().NotBe(HttpStatusCode.TooManyRequests);
        (await PostFormAsync(api, "2001:db8:1:2:ffff:ffff:ffff:b", "/connect/token", form)).Status().Should().NotBe(HttpStatusCode.TooManyRequests);
        (await PostFormAsync(api, "2001:db8:1:2:1234::c", "/connect/token", form)).Status().Should().Be(HttpStatusCode.TooManyRequests, "one /64 is one client");
        (await PostFormAsync(api, "2001:db8:1:3::a", "/connect/token", form)).Status().Should().NotBe(HttpStatusCode.TooManyRequests, "the next /64 is another");
    }

    [Theory]
    [MemberData(nameof(Stores), MemberType = typeof(RateLimitServers))]
    public async Task The_IPv6_prefix_length_is_configurable(string store)
    {
        await using var node = await StartAsync(store, new() { ["RateLimiting:TokenPerIp:PermitLimit"] = "1", ["RateLimiting:IPv6PrefixLength"] = "48" });
        using var api = node.CreateApiClient();
        var form = new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["client_id"] = "nobody" };

        (await PostFormAsync(api, "2001:db8:7:1::a", "/connect/token", form)).Status().Should().NotBe(HttpStatusCode.TooManyRequests);
        (await PostFormAsync(api, "2001:db8:7:2::a", "/connect/token", form)).Status().Should().Be(HttpStatusCode.TooManyRequests, "another /64 of the same /48");
    }
}
