using Microsoft.Extensions.Options;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Configuration;

/// <summary>Outside Development the server refuses to start on unsafe or incomplete settings.</summary>
public sealed class StartupValidationTests
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

    private static IEnumerable<Exception> Flatten(Exception exception) => exception is AggregateException aggregate
        ? aggregate.InnerExceptions.SelectMany(Flatten)
        : [exception];

    private sealed class ProductionWithoutSettings : OAuthServerFactory
    {
        protected override string EnvironmentName => "Production";
    }
}
