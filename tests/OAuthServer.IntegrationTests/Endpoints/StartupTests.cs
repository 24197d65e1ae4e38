using System.Net;
using Microsoft.Extensions.Options;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Endpoints;

public sealed class StartupTests
{
    [Fact]
    public async Task Production_refuses_to_start_without_https_and_keys_and_names_what_is_missing()
    {
        var server = new ProductionWithoutSettings();

        Exception? failure = null;
        try
        {
            await ((IAsyncLifetime)server).InitializeAsync();
        }
        catch (Exception exception)
        {
            failure = exception;
        }

        // Each invalid options class reports on its own; together they must name every missing setting.
        failure.Should().NotBeNull("Production must not start without HTTPS settings and keys");
        var message = string.Join(" ", Flatten(failure!).OfType<OptionsValidationException>().SelectMany(exception => exception.Failures));
        message.Should().Contain("Server:Issuer must use https");
        message.Should().Contain("Server:RequireHttps");
        message.Should().Contain("Keys:Path has no signing key");
        await ((IAsyncLifetime)server).DisposeAsync();
    }

    [Fact]
    public async Task Readiness_is_false_while_the_database_is_unreachable_but_liveness_holds()
    {
        var server = new DatabaseDown();
        await ((IAsyncLifetime)server).InitializeAsync();
        try
        {
            using var api = server.CreateApiClient();

            (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
            (await api.GetAsync("/health/live")).StatusCode.Should().Be(HttpStatusCode.OK);
        }
        finally
        {
            await ((IAsyncLifetime)server).DisposeAsync();
        }
    }

    private static IEnumerable<Exception> Flatten(Exception exception) => exception is AggregateException aggregate
        ? aggregate.InnerExceptions.SelectMany(Flatten)
        : [exception];

    private sealed class ProductionWithoutSettings : OAuthServerFactory
    {
        protected override string EnvironmentName => "Production";
    }

    private sealed class DatabaseDown : OAuthServerFactory
    {
        // Port 9 (discard) on loopback has no PostgreSQL; the server must still start and say it is not ready.
        protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["ConnectionStrings:OAuthServer"] = "Host=127.0.0.1;Port=9;Username=x;Password=x;Database=x;Timeout=2",
            ["Database:MigrateOnStartup"] = "false",
        };
    }
}
