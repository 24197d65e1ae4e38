using System.Net;
using Npgsql;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Observability;

/// <summary>auth-rs "dependency outage": with the database gone, readiness is false and requests fail fast with 503.</summary>
public sealed class DatabaseOutageTests
{
    [Fact]
    public async Task Database_outage_gives_readiness_false_and_503_temporarily_unavailable_then_the_server_recovers()
    {
        await using var database = await TestDatabase.CreateMigratedAsync("oauth_outage");
        var upstream = new NpgsqlConnectionStringBuilder(database.ConnectionString);
        await using var proxy = new TcpProxy(upstream.Port);
        proxy.Start();
        var throughProxy = new NpgsqlConnectionStringBuilder(upstream.ConnectionString) { Port = proxy.Port, Timeout = 3 }.ConnectionString;
        await using var node = await CustomServer.StartAsync(sharedConnectionString: throughProxy);
        var email = await node.CreateUserAsync();
        var signedIn = await SignedIn.StartAsync(node);
        using var api = node.CreateApiClient();
        var refreshToken = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.OK);

        await proxy.StopAsync();

        (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        (await api.GetAsync("/health/live")).StatusCode.Should().Be(HttpStatusCode.OK);
        var refresh = await api.RefreshAsync(signedIn.ClientId, refreshToken);
        refresh.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        refresh.Headers.RetryAfter.Should().NotBeNull();
        (await BrowserFlow.JsonAsync(refresh)).GetProperty("error").GetString().Should().Be("temporarily_unavailable");
        var login = await node.LoginAsync(email, TestData.Password);
        login.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        (await login.Content.ReadAsStringAsync()).Should().NotContain("Exception").And.NotContain(" at ");

        proxy.Start();

        for (var attempt = 0; attempt < 50 && (await api.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK; attempt++)
        {
            await Task.Delay(200);
        }

        (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.OK, "the server recovers by itself");
        (await node.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        await (await api.RefreshAsync(signedIn.ClientId, refreshToken)).ShouldSucceedAsync();
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
