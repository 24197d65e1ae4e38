using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.IntegrationTests.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>
/// The modern-client capabilities as a certified relying-party library uses them, with its own implementation of
/// each protocol (panva's openid-client, in tests/openid-client): DPoP-bound tokens, and private_key_jwt with a key
/// registered through the admin API. Our server is driven only through the
/// library; the test plays the person (signing in, approving a device) and checks what the library got.
/// </summary>
public sealed class CertifiedRelyingPartyTests(AdminServer admin) : IClassFixture<AdminServer>
{
    private OAuthServerFactory Server => admin.Node;

    [Fact]
    public async Task OpenId_client_authenticates_with_private_key_jwt_using_a_key_registered_through_the_admin_API()
    {
        using var key = RSA.Create(2048);
        var kid = "rp-" + Guid.NewGuid().ToString("N")[..8];
        using var operatorApi = await admin.AdminClientAsync();
        var created = await AdminServer.CreateClientAsync(operatorApi, new
        {
            type = "confidential",
            token_endpoint_auth_method = "private_key_jwt",
            jwks = new { keys = new[] { Jwk(key, kid, includePrivate: false) } },
            grant_types = new[] { "client_credentials" },
            scopes = new[] { "api" },
        });
        var clientId = created.GetProperty("client_id").GetString()!;
        created.TryGetProperty("client_secret", out var secret).Should().BeTrue();
        secret.ValueKind.Should().Be(JsonValueKind.Null, "a client that authenticates with its key has no secret");

        await using var party = CertifiedRelyingParty.Start("private-key-jwt", new
        {
            issuer = Server.Issuer.ToString(),
            client_id = clientId,
            private_jwk = Jwk(key, kid, includePrivate: true),
            scope = "api",
        });

        var untyped = await party.StepAsync("untyped");
        untyped.GetProperty("refused").GetBoolean().Should().BeTrue("RFC 10070: a client assertion is explicitly typed");
        untyped.GetProperty("error").GetString().Should().Be("invalid_client");
        untyped.GetProperty("error_description").GetString().Should().Contain("client-authentication+jwt", "the refusal says what to send");

        (await party.StepAsync("discovered")).GetProperty("auth_methods").EnumerateArray().Select(method => method.GetString())
            .Should().Contain("private_key_jwt");
        var tokens = await party.StepAsync("tokens");
        var accessToken = new JsonWebToken(tokens.GetProperty("access_token").GetString());
        accessToken.GetClaim("client_id").Value.Should().Be(clientId);
        var introspected = await party.StepAsync("introspected");
        introspected.GetProperty("active").GetBoolean().Should().BeTrue("introspection accepted a second assertion of the same key");
        introspected.GetProperty("client_id").GetString().Should().Be(clientId);
        await party.CompletesAsync();
    }

    [Fact]
    public async Task OpenId_client_obtains_refreshes_and_uses_DPoP_bound_tokens_and_another_key_is_refused()
    {
        var email = await Server.CreateUserAsync();
        var (clientId, redirectUri) = await Server.CreatePublicClientAsync();
        await using var party = CertifiedRelyingParty.Start("dpop-code", new
        {
            issuer = Server.Issuer.ToString(),
            client_id = clientId,
            redirect_uri = redirectUri,
            scope = "openid email offline_access api",
        });

        (await party.StepAsync("discovered")).GetProperty("dpop_algs").EnumerateArray().Select(alg => alg.GetString())
            .Should().Contain(["ES256", "RS256"]);
        var authorize = await party.StepAsync("authorize");
        var jkt = authorize.GetProperty("jkt").GetString();
        var redirect = await new BrowserFlow(Server).SignInAsync(authorize.GetProperty("url").GetString()!, email, TestData.Password);
        await party.ReplyAsync(redirect.Headers.Location!.ToString());

        var tokens = await party.StepAsync("tokens");
        tokens.GetProperty("token_type").GetString().Should().BeEquivalentTo("DPoP");
        ConfirmationThumbprint(tokens.GetProperty("access_token").GetString()!).Should().Be(jkt, "the access token is bound to the library's key");

        (await party.StepAsync("userinfo")).GetProperty("email").GetString().Should().Be(email);

        var refreshed = await party.StepAsync("refreshed");
        refreshed.GetProperty("token_type").GetString().Should().BeEquivalentTo("DPoP");
        ConfirmationThumbprint(refreshed.GetProperty("access_token").GetString()!).Should().Be(jkt);
        refreshed.GetProperty("refresh_token").GetString().Should().NotBe(tokens.GetProperty("refresh_token").GetString(), "refresh tokens rotate");

        var otherKey = await party.StepAsync("refresh_with_other_key");
        otherKey.GetProperty("refused").GetBoolean().Should().BeTrue("a public client's refresh token is bound to its key (RFC 9449 §5)");
        await party.CompletesAsync();
    }

    private static Dictionary<string, string> Jwk(RSA key, string kid, bool includePrivate)
    {
        var parameters = key.ExportParameters(includePrivate);
        var jwk = new Dictionary<string, string>
        {
            ["kty"] = "RSA",
            ["kid"] = kid,
            ["alg"] = "RS256",
            ["use"] = "sig",
            ["n"] = Base64UrlEncoder.Encode(parameters.Modulus),
            ["e"] = Base64UrlEncoder.Encode(parameters.Exponent),
        };
        if (includePrivate)
        {
            jwk["d"] = Base64UrlEncoder.Encode(parameters.D);
            jwk["p"] = Base64UrlEncoder.Encode(parameters.P);
            jwk["q"] = Base64UrlEncoder.Encode(parameters.Q);
            jwk["dp"] = Base64UrlEncoder.Encode(parameters.DP);
            jwk["dq"] = Base64UrlEncoder.Encode(parameters.DQ);
            jwk["qi"] = Base64UrlEncoder.Encode(parameters.InverseQ);
        }

        return jwk;
    }

    private static string? ConfirmationThumbprint(string accessToken)
    {
        var token = new JsonWebToken(accessToken);
        return token.TryGetPayloadValue<JsonElement>("cnf", out var cnf) && cnf.TryGetProperty("jkt", out var jkt) ? jkt.GetString() : null;
    }
}
