using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Observability;

[Collection(SharedPostgresServer.Name)]
public sealed class HealthTests(OAuthServerFactory server)
{
    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    public async Task Health_endpoints_report_healthy_while_the_database_answers(string path)
    {
        using var api = server.CreateApiClient();

        var response = await api.GetAsync(path);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).Should().Be("Healthy");
    }

    [Fact]
    public async Task Container_healthcheck_verb_exits_zero_when_ready_and_non_zero_when_unreachable()
    {
        (await RunProbeAsync(new Uri(server.Issuer, "health/ready").ToString())).Should().Be(0);
        (await RunProbeAsync("http://127.0.0.1:9/health/ready")).Should().Be(1);
    }

    private static async Task<int> RunProbeAsync(string url) =>
        (await ServerBinary.RunAsync(["healthcheck", url], new Dictionary<string, string>())).ExitCode;
}
