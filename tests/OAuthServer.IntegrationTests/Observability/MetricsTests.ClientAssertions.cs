using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Conformance;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Observability;

public sealed partial class MetricsTests
{
    // An operator alerts on replays and reads the reasons of refusals; a replay is one security event, no more (a
    // doubled event would page twice) and no fewer, and the other refusals raise none.
    [Fact]
    public async Task A_replayed_client_assertion_raises_one_security_event_and_refusals_are_counted_by_reason()
    {
        await using var node = await CustomServer.StartAsync();
        var key = ClientKey.Ec();
        var clientId = await node.RegisterClientAsync(new OAuthServer.Admin.ClientRegistration
        {
            ClientId = "metrics-keys-" + Guid.NewGuid().ToString("N")[..8],
            Kind = OAuthServer.Admin.ClientKind.Confidential,
            AllowClientCredentials = true,
            Scopes = ["api"],
            Jwks = JsonSerializer.Serialize(key.Jwks),
        });
        using var api = node.CreateApiClient();
        Task<HttpResponseMessage> TokenAsync(string assertion) => api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["scope"] = "api",
            ["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", ["client_assertion"] = assertion,
        }));
        Task<int> ReplayEventsAsync() => node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().SecurityEvents
            .CountAsync(item => item.Type == "client_assertion.replayed" && item.ClientId == clientId));
        var before = await ScrapeAsync(node);

        var assertion = key.Assertion(clientId, node.Issuer);
        await (await TokenAsync(assertion)).ShouldSucceedAsync();
        (await ReplayEventsAsync()).Should().Be(0, "a first use is no replay");
        (await TokenAsync(assertion)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await ReplayEventsAsync()).Should().Be(1, "one replay, one event");
        (await TokenAsync(key.Assertion(clientId, node.Issuer, lifetime: TimeSpan.FromMinutes(-2)))).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await TokenAsync(key.Assertion(clientId, node.Issuer, lifetime: TimeSpan.FromMinutes(-2)))).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await TokenAsync("not-a-jwt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await TokenAsync(key.Assertion(clientId, node.Issuer, type: "JWT"))).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await TokenAsync(ClientKey.Ec(kid: key.Key.KeyId!).Assertion(clientId, node.Issuer))).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        static double Failures(Dictionary<string, double> series) =>
            series.Where(pair => pair.Key.StartsWith("oauth_client_assertion_failures_total", StringComparison.Ordinal)).Sum(pair => pair.Value);
        var after = await ScrapeAsync(node, scrape => Failures(scrape) >= Failures(before) + 6);
        double Delta(string series) => after.GetValueOrDefault(series) - before.GetValueOrDefault(series);

        (await ReplayEventsAsync()).Should().Be(1, "expired, malformed, untyped and forged assertions are refusals, not replays");
        Delta("oauth_client_assertion_replays_total").Should().Be(1);
        Delta("oauth_client_assertion_failures_total{reason=\"replayed\"}").Should().Be(1);
        Delta("oauth_client_assertion_failures_total{reason=\"expired\"}").Should().Be(2);
        Delta("oauth_client_assertion_failures_total{reason=\"malformed\"}").Should().Be(1);
        Delta("oauth_client_assertion_failures_total{reason=\"type\"}").Should().Be(1);
        Delta("oauth_client_assertion_failures_total{reason=\"rejected\"}").Should().Be(1, "a bad signature is refused by OpenIddict itself");
        (Failures(after) - Failures(before)).Should().Be(6, "six refusals, each counted once, the accepted assertion not at all");
    }

    // A scrape of /metrics; with a condition, the first one (within 10 s) that meets it, since an exporter may
    // answer a scrape from a short cache.
    private static async Task<Dictionary<string, double>> ScrapeAsync(OAuthServerFactory node, Func<Dictionary<string, double>, bool>? until = null)
    {
        using var management = node.CreateManagementClient();
        for (var attempt = 0; ; attempt++)
        {
            using var response = await management.GetAsync("/metrics");
            response.StatusCode.Should().Be(HttpStatusCode.OK);
            var series = Parse(await response.Content.ReadAsStringAsync());
            if (until is null || until(series) || attempt >= 100)
            {
                return series;
            }

            await Task.Delay(100);
        }
    }
}
