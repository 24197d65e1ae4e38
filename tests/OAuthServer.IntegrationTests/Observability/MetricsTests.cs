using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Accounts;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Observability;

/// <summary>
/// /metrics after a scripted scenario. Runs alone: the OpenTelemetry SDK listens to meters by name across
/// the whole test process, so another server's activity would blur the counts.
/// </summary>
[Collection(MemoryMeasurement.Name)]
public sealed partial class MetricsTests
{
    [Fact]
    public async Task Metrics_expose_the_named_series_with_the_right_counts_after_a_scripted_scenario()
    {
        await using var nats = new NatsTestServer();
        await nats.StartAsync();
        await using var node = await CustomServer.StartAsync(new()
        {
            ["Nats:Url"] = nats.Url,
            ["Nats:PollInterval"] = "00:00:00.100",
            // Limits on, generous for the scenario; the authorize limit is spent on purpose at the end. A long
            // window, so that no window boundary falls inside the test.
            ["RateLimiting:Enabled"] = "true",
            ["RateLimiting:AuthorizePerIp:PermitLimit"] = "10",
            ["RateLimiting:AuthorizePerIp:Window"] = "01:00:00",
        });
        using var api = node.CreateApiClient();
        var email = await node.CreateUserAsync();
        var victim = await node.CreateUserAsync();
        var (clientId, redirectUri) = await node.CreatePublicClientAsync();
        var (before, eventsBefore) = await SettledAsync(node);

        await node.LoginAsync(email, "wrong-password-attempt");
        await node.LoginAsync(TestData.NewEmail(), "wrong-password-attempt");
        for (var attempt = 0; attempt < 5; attempt++)
        {
            await node.LoginAsync(victim, "wrong-password-attempt");                     // the fifth locks the account
        }

        var pkce = Pkce.Create();
        var redirect = await new BrowserFlow(node).SignInAsync(
            BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce)), email, TestData.Password);
        var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, BrowserFlow.Query(redirect.Headers.Location!)["code"], pkce.Verifier)).ShouldSucceedAsync();
        var first = tokens.GetProperty("refresh_token").GetString()!;
        await (await api.RefreshAsync(clientId, first)).ShouldSucceedAsync();
        await (await api.RefreshAsync(clientId, first)).ShouldFailWithAsync("invalid_grant");
        var refused = 0;
        for (var attempt = 0; attempt < 30; attempt++)
        {
            var authorize = await api.GetAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));
            refused += authorize.StatusCode == HttpStatusCode.TooManyRequests ? 1 : 0;
        }

        var (after, eventsAfter) = await SettledAsync(node);
        var eventsWritten = eventsAfter - eventsBefore;
        double Delta(string series) => after.GetValueOrDefault(series) - before.GetValueOrDefault(series);

        Delta("oauth_login_attempts_total{result=\"failure\"}").Should().Be(7);
        Delta("oauth_login_attempts_total{result=\"success\"}").Should().Be(1);
        Delta("oauth_lockouts_total").Should().Be(1);
        Delta("oauth_tokens_issued_total{grant_type=\"authorization_code\"}").Should().Be(1);
        Delta("oauth_tokens_issued_total{grant_type=\"refresh_token\"}").Should().Be(1);
        Delta("oauth_refresh_replay_total").Should().Be(1);
        refused.Should().BeGreaterThan(0, "30 authorize requests overrun a budget of 10");
        Delta("oauth_rate_limited_total{policy=\"AuthorizePerIp\"}").Should().Be(refused);
        eventsWritten.Should().BeGreaterThanOrEqualTo(10, "7 failures, a lockout, a sign-in and a replay are recorded");
        (Published(after) - Published(before)).Should().Be(eventsWritten, "every outbox row of the scenario was published once");
        after["oauth_security_events_pending"].Should().Be(0, "the backlog drained");
        // Provoking "auth busy" takes a race against the clock; the series is published at zero from start-up.
        after.Should().ContainKey("oauth_password_hash_busy_total");
        Delta("oauth_password_hash_busy_total").Should().Be(0);
        Delta("oauth_password_hash_duration_seconds_count{operation=\"verify\"}").Should().Be(8, "eight logins, one Argon2 verification each");
        BucketBoundaries(after, "oauth_password_hash_duration_seconds_bucket", "operation=\"verify\"")
            .Should().Equal([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, double.PositiveInfinity], "the buckets span Argon2's range, 10 ms to 5 s");
        after.Keys.Should().Contain("oauth_password_hash_in_flight");
        after.Keys.Should().Contain(key => key.StartsWith("http_server_request_duration_seconds_count", StringComparison.Ordinal), "ASP.NET Core's own metrics are exported");
    }

    /// <summary>
    /// Waits until the relay has published every outbox row and the metrics say so (the counter is incremented just
    /// after a row is marked, the gauge after each batch), then returns the scrape and the number of rows.
    /// </summary>
    private static async Task<(Dictionary<string, double> Metrics, int Events)> SettledAsync(OAuthServerFactory node)
    {
        for (var attempt = 0; attempt < 300; attempt++)
        {
            var (events, pending) = await node.WithScopeAsync(async services =>
            {
                var outbox = services.GetRequiredService<OAuthDbContext>().SecurityEvents;
                return (await outbox.CountAsync(), await outbox.CountAsync(item => item.PublishedAt == null));
            });
            using var management = node.CreateManagementClient();
            var response = await management.GetAsync("/metrics");
            response.StatusCode.Should().Be(HttpStatusCode.OK);
            var metrics = Parse(await response.Content.ReadAsStringAsync());
            if (pending == 0 && Published(metrics) == events && metrics.GetValueOrDefault("oauth_security_events_pending", -1) == 0)
            {
                return (metrics, events);
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("The relay did not publish the outbox, or the metrics never showed it.");
    }

    // oauth_security_events_published_total is labelled by event type.
    private static double Published(Dictionary<string, double> metrics) =>
        metrics.Where(series => series.Key.StartsWith("oauth_security_events_published_total", StringComparison.Ordinal)).Sum(series => series.Value);

    // The `le` boundaries of one histogram's series with the given label, in order.
    private static List<double> BucketBoundaries(Dictionary<string, double> series, string name, string label) =>
        series.Keys.Where(key => key.StartsWith(name + "{", StringComparison.Ordinal) && key.Contains(label, StringComparison.Ordinal))
            .Select(key => LabelPair().Matches(key).Single(pair => pair.Groups["key"].Value == "le").Groups["value"].Value)
            .Select(le => le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture))
            .Order().ToList();

    // Series name with its labels in sorted order (minus the OpenTelemetry scope labels) → value.
    private static Dictionary<string, double> Parse(string text)
    {
        var series = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var match = SampleLine().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var labels = LabelPair().Matches(match.Groups["labels"].Value)
                .Where(label => !label.Groups["key"].Value.StartsWith("otel_", StringComparison.Ordinal))
                .Select(label => $"{label.Groups["key"].Value}=\"{label.Groups["value"].Value}\"")
                .Order(StringComparer.Ordinal).ToList();
            var key = labels.Count == 0 ? match.Groups["name"].Value : $"{match.Groups["name"].Value}{{{string.Join(",", labels)}}}";
            series[key] = series.GetValueOrDefault(key) + double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        }

        return series;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>[-+0-9.eEInfNa]+)")]
    private static partial Regex SampleLine();

    [GeneratedRegex("(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=\"(?<value>[^\"]*)\"")]
    private static partial Regex LabelPair();
}
