using Duende.IdentityModel;
using Duende.IdentityModel.Client;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>
/// The whole journey as an app team would make it with an off-the-shelf, standards-compliant client library
/// (Duende.IdentityModel): discovery, sign-in, code exchange, JWKS validation, refresh, replay refused.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class StandardClientLibraryTests(OAuthServerFactory server)
{
    [Fact]
    public async Task A_standard_client_signs_in_exchanges_validates_refreshes_and_is_refused_on_replay()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        using var http = server.CreateApiClient();

        var discovery = await http.GetDiscoveryDocumentAsync(new DiscoveryDocumentRequest
        {
            Address = server.Issuer.ToString(),
            Policy = { RequireHttps = false, AllowHttpOnLoopback = true },
        });
        discovery.IsError.Should().BeFalse(discovery.Error);

        var verifier = CryptoRandom.CreateUniqueId(32);
        var challenge = Base64UrlEncoder.Encode(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(verifier)));
        var authorizeUrl = new RequestUrl(discovery.AuthorizeEndpoint!).CreateAuthorizeUrl(
            clientId: clientId,
            responseType: OidcConstants.ResponseTypes.Code,
            scope: "openid offline_access api",
            redirectUri: redirectUri,
            state: "library-state",
            codeChallenge: challenge,
            codeChallengeMethod: OidcConstants.CodeChallengeMethods.Sha256);
        var redirect = await new BrowserFlow(server).SignInAsync(new Uri(authorizeUrl).PathAndQuery, email, TestData.Password);
        var callback = new AuthorizeResponse(redirect.Headers.Location!.ToString());
        callback.IsError.Should().BeFalse(callback.Error);
        callback.State.Should().Be("library-state");

        var tokens = await http.RequestAuthorizationCodeTokenAsync(new AuthorizationCodeTokenRequest
        {
            Address = discovery.TokenEndpoint,
            ClientId = clientId,
            Code = callback.Code!,
            RedirectUri = redirectUri,
            CodeVerifier = verifier,
        });
        tokens.IsError.Should().BeFalse(tokens.Error);

        var validation = await new JsonWebTokenHandler().ValidateTokenAsync(tokens.AccessToken, new TokenValidationParameters
        {
            ValidIssuer = discovery.Issuer,
            ValidAudience = "api",
            IssuerSigningKeys = discovery.KeySet!.Keys.Select(key => new JsonWebKey(System.Text.Json.JsonSerializer.Serialize(key))),
            ValidTypes = ["at+jwt"],
        });
        validation.IsValid.Should().BeTrue(validation.Exception?.Message);

        var refreshed = await http.RequestRefreshTokenAsync(new RefreshTokenRequest
        {
            Address = discovery.TokenEndpoint,
            ClientId = clientId,
            RefreshToken = tokens.RefreshToken!,
        });
        refreshed.IsError.Should().BeFalse(refreshed.Error);
        refreshed.RefreshToken.Should().NotBe(tokens.RefreshToken);

        var replay = await http.RequestRefreshTokenAsync(new RefreshTokenRequest
        {
            Address = discovery.TokenEndpoint,
            ClientId = clientId,
            RefreshToken = tokens.RefreshToken!,
        });
        replay.IsError.Should().BeTrue();
        replay.Error.Should().Be("invalid_grant");
    }
}
