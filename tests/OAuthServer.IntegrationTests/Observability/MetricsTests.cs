using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
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
        await using var node = await CustomServer.StartAsync();
        using var api = node.CreateApiClient();
        var email = await node.CreateUserAsync();
        var (clientId, redirectUri) = await node.CreatePublicClientAsync();
        var before = Parse(await api.GetStringAsync("/metrics"));

        await node.LoginAsync(email, "wrong-password-attempt");
        await node.LoginAsync(TestData.NewEmail(), "wrong-password-attempt");
        var pkce = Pkce.Create();
        var redirect = await new BrowserFlow(node).SignInAsync(
            BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce)), email, TestData.Password);
        var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, BrowserFlow.Query(redirect.Headers.Location!)["code"], pkce.Verifier)).ShouldSucceedAsync();
        var first = tokens.GetProperty("refresh_token").GetString()!;
        await (await api.RefreshAsync(clientId, first)).ShouldSucceedAsync();
        await (await api.RefreshAsync(clientId, first)).ShouldFailWithAsync("invalid_grant");

        var response = await api.GetAsync("/metrics");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        var after = Parse(await response.Content.ReadAsStringAsync());
        double Delta(string series) => after.GetValueOrDefault(series) - before.GetValueOrDefault(series);

        Delta("oauth_login_attempts_total{result=\"failure\"}").Should().Be(2);
        Delta("oauth_login_attempts_total{result=\"success\"}").Should().Be(1);
        Delta("oauth_tokens_issued_total{grant_type=\"authorization_code\"}").Should().Be(1);
        Delta("oauth_tokens_issued_total{grant_type=\"refresh_token\"}").Should().Be(1);
        Delta("oauth_refresh_replay_total").Should().Be(1);
        Delta("oauth_password_hash_duration_seconds_count{operation=\"verify\"}").Should().Be(3, "three logins, one Argon2 verification each");
        after.Keys.Should().Contain(key => key.StartsWith("oauth_password_hash_duration_seconds_bucket", StringComparison.Ordinal));
        after.Keys.Should().Contain("oauth_security_events_pending");
        after.Keys.Should().Contain("oauth_password_hash_in_flight");
        after.Keys.Should().Contain(key => key.StartsWith("http_server_request_duration_seconds_count", StringComparison.Ordinal), "ASP.NET Core's own metrics are exported");
    }

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
