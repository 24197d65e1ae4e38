using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Observability;

/// <summary>
/// Threat model 4.3, redaction at the source: the host's default Debug and EventSource providers would get every
/// message unredacted, so the running server has exactly one log provider, the console, with the redacting formatter.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class LogSinkTests(OAuthServerFactory server)
{
    [Fact]
    public void The_only_log_provider_is_the_console_and_it_writes_redacted_json()
    {
        server.Services.GetServices<ILoggerProvider>().Should().ContainSingle()
            .Which.Should().BeOfType<ConsoleLoggerProvider>();
        server.Services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName
            .Should().Be("redacted-json");
    }
}
