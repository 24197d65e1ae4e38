using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>RFC 9700 §4.14 and threat model 2.4: refresh tokens rotate, and a replay kills the family.</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class RefreshRotationTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Refresh_token_is_rotated_on_every_use()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();
        var first = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;

        var refreshed = await (await api.RefreshAsync(signedIn.ClientId, first)).ShouldSucceedAsync();
        var second = refreshed.GetProperty("refresh_token").GetString()!;
        var third = (await (await api.RefreshAsync(signedIn.ClientId, second)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;

        second.Should().NotBe(first);
        third.Should().NotBe(second).And.NotBe(first);
        refreshed.GetProperty("access_token").GetString().Should().NotBeNullOrEmpty();
    }

    [Fact]
    public async Task Refresh_token_is_opaque_not_a_JWT()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();

        var refreshToken = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;

        refreshToken.Split('.').Should().HaveCount(1, "a reference token carries no readable payload");
    }

    [Fact]
    public async Task Replayed_refresh_token_is_rejected_and_its_successor_is_revoked()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();
        var original = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var successor = (await (await api.RefreshAsync(signedIn.ClientId, original)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;

        // The attacker (or the victim) presents the already-used token: reuse leeway is zero.
        await (await api.RefreshAsync(signedIn.ClientId, original)).ShouldFailWithAsync("invalid_grant");

        // The whole family is revoked: the legitimate successor no longer works either.
        await (await api.RefreshAsync(signedIn.ClientId, successor)).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Refresh_token_is_bound_to_its_client()
    {
        var signedIn = await SignedIn.StartAsync(server);
        var (otherClient, _) = await server.CreatePublicClientAsync();
        using var api = server.CreateApiClient();
        var refreshToken = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;

        await (await api.RefreshAsync(otherClient, refreshToken)).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Revoked_refresh_token_can_not_be_used()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();
        var refreshToken = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;

        var revoke = await api.PostAsync("/connect/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = signedIn.ClientId,
            ["token"] = refreshToken,
            ["token_type_hint"] = "refresh_token",
        }));

        revoke.StatusCode.Should().Be(System.Net.HttpStatusCode.OK);
        await (await api.RefreshAsync(signedIn.ClientId, refreshToken)).ShouldFailWithAsync("invalid_grant");
    }
}
