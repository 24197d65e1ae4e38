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
}
