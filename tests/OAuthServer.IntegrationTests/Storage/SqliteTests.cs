using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Storage;

/// <summary>The embedded default store runs the same happy path.</summary>
public sealed class SqliteTests(SqliteOAuthServerFactory server) : IClassFixture<SqliteOAuthServerFactory>
{
    [Fact]
    public async Task Happy_path_sign_in_exchange_and_refresh_works_on_SQLite()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();

        var tokens = await signedIn.RedeemAsync(api);
        var refreshed = await (await api.RefreshAsync(signedIn.ClientId, tokens.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();

        refreshed.GetProperty("access_token").GetString().Should().NotBeNullOrEmpty();
        (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.OK);
    }
}
