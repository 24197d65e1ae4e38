using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.Conformance.Dpop.DpopHttp;

namespace OAuthServer.IntegrationTests.Conformance.Dpop;

/// <summary>
/// Userinfo as a DPoP protected resource (RFC 9449 §7): a bound token works only with the DPoP scheme and a proof
/// of its key for this request, and a stolen bound token presented as Bearer is refused (§7.2).
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class DpopUserInfoTests(OAuthServerFactory server)
{
    [Fact]
    public async Task A_bound_token_with_the_DPoP_scheme_and_a_proof_reads_userinfo_by_GET_and_by_POST()
    {
        using var key = DpopKey.Es256();
        var (accessToken, _) = await BoundTokenAsync(key);
        using var api = server.CreateApiClient();

        var get = await UserInfoAsync(api, "DPoP", accessToken, HttpMethod.Get, key.Proof("GET", UserInfoUrl(server.Issuer), accessToken));
        var post = await UserInfoAsync(api, "DPoP", accessToken, HttpMethod.Post, key.Proof("POST", UserInfoUrl(server.Issuer), accessToken));

        get.StatusCode.Should().Be(HttpStatusCode.OK, await get.Content.ReadAsStringAsync());
        (await BrowserFlow.JsonAsync(get)).GetProperty("sub").GetString().Should().NotBeNullOrEmpty();
        post.StatusCode.Should().Be(HttpStatusCode.OK, await post.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_bound_token_presented_as_Bearer_is_refused_even_with_a_valid_proof()
    {
        using var key = DpopKey.Es256();
        var (accessToken, clientId) = await BoundTokenAsync(key);
        using var api = server.CreateApiClient();

        var bare = await UserInfoAsync(api, "Bearer", accessToken);
        var withProof = await UserInfoAsync(api, "Bearer", accessToken, HttpMethod.Get, key.Proof("GET", UserInfoUrl(server.Issuer), accessToken));

        foreach (var response in new[] { bare, withProof })
        {
            response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
            var challenge = response.Headers.WwwAuthenticate.ToString();
            challenge.Should().StartWith("DPoP").And.Contain("error=\"invalid_token\"").And.Contain("algs=\"ES256");
        }

        (await EventCountAsync(server, "dpop.key_mismatch", clientId)).Should().Be(2);
    }

    [Theory]
    [InlineData("no proof")]
    [InlineData("ath of another token")]
    [InlineData("no ath")]
    [InlineData("another key")]
    [InlineData("htu of the token endpoint")]
    [InlineData("wrong htm")]
    [InlineData("replayed proof")]
    public async Task A_bound_token_with_a_bad_proof_is_refused_with_a_DPoP_challenge(string broken)
    {
        using var key = DpopKey.Es256();
        using var other = DpopKey.Es256();
        var (accessToken, _) = await BoundTokenAsync(key);
        using var api = server.CreateApiClient();
        var url = UserInfoUrl(server.Issuer);
        string[] proofs = broken switch
        {
            "no proof" => [],
            "ath of another token" => [key.Proof("GET", url, accessToken + "x")],
            "no ath" => [key.Proof("GET", url)],
            "another key" => [other.Proof("GET", url, accessToken)],
            "htu of the token endpoint" => [key.Proof("GET", TokenUrl(server.Issuer), accessToken)],
            "wrong htm" => [key.Proof("POST", url, accessToken)],
            "replayed proof" => [key.Proof("GET", url, accessToken, jti: "userinfo-replay-" + Guid.NewGuid().ToString("N"))],
            _ => throw new ArgumentOutOfRangeException(nameof(broken)),
        };
        if (broken == "replayed proof")
        {
            (await UserInfoAsync(api, "DPoP", accessToken, HttpMethod.Get, proofs)).StatusCode.Should().Be(HttpStatusCode.OK);
        }

        var response = await UserInfoAsync(api, "DPoP", accessToken, HttpMethod.Get, proofs);

        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized, broken);
        response.Headers.WwwAuthenticate.ToString().Should().StartWith("DPoP").And.Contain("error=\"invalid_dpop_proof\"");
    }

    [Fact]
    public async Task Bearer_tokens_keep_working_as_Bearer_and_are_refused_under_the_DPoP_scheme()
    {
        var signedIn = await SignedIn.StartAsync(server, "openid");
        using var api = server.CreateApiClient();
        var accessToken = (await signedIn.RedeemAsync(api)).GetProperty("access_token").GetString()!;
        using var key = DpopKey.Es256();

        (await UserInfoAsync(api, "Bearer", accessToken)).StatusCode.Should().Be(HttpStatusCode.OK);
        var asDpop = await UserInfoAsync(api, "DPoP", accessToken, HttpMethod.Get, key.Proof("GET", UserInfoUrl(server.Issuer), accessToken));

        asDpop.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        asDpop.Headers.WwwAuthenticate.ToString().Should().StartWith("DPoP").And.Contain("invalid_token");
    }

    private async Task<(string AccessToken, string ClientId)> BoundTokenAsync(DpopKey key)
    {
        var (clientId, redirectUri) = await CodeClientAsync(server);
        var signedIn = await SignedIn.ForAsync(server, await server.CreateUserAsync(), clientId, redirectUri, "openid");
        using var api = server.CreateApiClient();
        var tokens = await (await PostAsync(api, "/connect/token", Redeem(signedIn), key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();
        return (tokens.GetProperty("access_token").GetString()!, clientId);
    }
}
