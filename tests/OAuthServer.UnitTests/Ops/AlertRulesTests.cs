using YamlDotNet.RepresentationModel;

namespace OAuthServer.UnitTests.Ops;

/// <summary>
/// The alerts issue 7 asks for, read from ops/prometheus as Prometheus would load them. ops/test.sh also runs
/// <c>promtool</c> (syntax, PromQL and the alert unit tests) when it can install it; this test holds everywhere.
/// </summary>
public sealed class AlertRulesTests
{
    private static readonly string Folder = RepositoryFiles.PathOf("ops", "prometheus");

    // Alert → a series its expression must read (issue 7, "ops": the alerts and what each watches).
    public static TheoryData<string, string> RequiredAlerts => new()
    {
        { "LoginFailureSpike", "oauth_login_attempts_total" },
        { "LockoutSpike", "oauth_lockouts_total" },
        { "RefreshTokenReplay", "oauth_refresh_replay_total" },
        { "PasswordHashBusySustained", "oauth_password_hash_busy_total" },
        { "SecurityEventBacklogGrowing", "oauth_security_events_pending" },
        { "ReadinessDown", "up" },
        { "ReadinessProbeFailing", "http_route=\"/health/ready\"" },
        { "HttpServerErrorRate", "http_response_status_code=~\"5..\"" },
    };

    [Theory]
    [MemberData(nameof(RequiredAlerts))]
    public void Each_required_alert_exists_with_an_expression_on_its_metric(string alert, string series)
    {
        var rule = Rules().SingleOrDefault(rule => Scalar(rule, "alert") == alert);

        rule.Should().NotBeNull($"ops/prometheus/alerts.yml must define {alert}");
        var expression = Scalar(rule!, "expr");
        expression.Should().NotBeNullOrWhiteSpace();
        expression.Should().Contain(series);
        expression.Should().Contain("job=\"oauthserver\"", "every rule reads the server's own scrape job");
        Scalar(((YamlMappingNode)rule!.Children[new YamlScalarNode("labels")]), "severity").Should().BeOneOf("warning", "critical");
    }

    [Fact]
    public void Every_alert_has_a_unique_name_a_duration_and_a_summary()
    {
        var rules = Rules();

        rules.Should().NotBeEmpty();
        rules.Select(rule => Scalar(rule, "alert")).Should().OnlyHaveUniqueItems();
        foreach (var rule in rules)
        {
            Scalar(rule, "for").Should().MatchRegex("^[0-9]+[smh]$", Scalar(rule, "alert"));
            Scalar((YamlMappingNode)rule.Children[new YamlScalarNode("annotations")], "summary").Should().NotBeNullOrWhiteSpace();
        }
    }

    [Fact]
    public void Prometheus_loads_the_rules_and_scrapes_the_server()
    {
        var config = Load("prometheus.yml");

        ((YamlSequenceNode)config.Children[new YamlScalarNode("rule_files")]).Children.OfType<YamlScalarNode>()
            .Select(file => file.Value).Should().Contain("alerts.yml");
        ((YamlSequenceNode)config.Children[new YamlScalarNode("scrape_configs")]).Children.OfType<YamlMappingNode>()
            .Should().Contain(job => Scalar(job, "job_name") == "oauthserver" && Scalar(job, "metrics_path") == "/metrics");
    }

    private static List<YamlMappingNode> Rules() =>
        ((YamlSequenceNode)Load("alerts.yml").Children[new YamlScalarNode("groups")]).Children.OfType<YamlMappingNode>()
            .SelectMany(group => ((YamlSequenceNode)group.Children[new YamlScalarNode("rules")]).Children.OfType<YamlMappingNode>())
            .Where(rule => rule.Children.ContainsKey(new YamlScalarNode("alert")))
            .ToList();

    private static YamlMappingNode Load(string file)
    {
        using var reader = new StreamReader(Path.Combine(Folder, file));
        var yaml = new YamlStream();
        yaml.Load(reader);
        return (YamlMappingNode)yaml.Documents.Single().RootNode;
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? (value as YamlScalarNode)?.Value : null;
}
