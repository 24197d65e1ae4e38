using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;
using OpenIddict.Abstractions;
using OpenIddict.EntityFrameworkCore.Models;

namespace OAuthServer.IntegrationTests.Keys;

/// <summary>With several keys mounted, all are published and the newest (by file name) signs.</summary>
public sealed class SigningKeyTests(SigningKeyTests.TwoKeys server) : IClassFixture<SigningKeyTests.TwoKeys>
{
    [Fact]
    public async Task Every_mounted_key_is_published_and_the_newest_one_signs()
    {
        using var api = server.CreateApiClient();
        var jwks = new JsonWebKeySet(await api.GetStringAsync("/.well-known/jwks.json"));
        var signedIn = await SignedIn.StartAsync(server);

        var accessToken = new JsonWebToken((await signedIn.RedeemAsync(api)).GetProperty("access_token").GetString()!);

        jwks.Keys.Select(key => key.Kid).Should().BeEquivalentTo([server.OldKid, server.NewKid]);
        accessToken.Kid.Should().Be(server.NewKid);
    }

    [Fact]
    public async Task Codes_use_keys_derived_from_the_encryption_key_while_access_and_id_tokens_stay_RS256()
    {
        using var api = server.CreateApiClient();
        var jwks = new JsonWebKeySet(await api.GetStringAsync("/.well-known/jwks.json"));
        var signedIn = await SignedIn.StartAsync(server);

        var tokens = await signedIn.RedeemAsync(api);
        foreach (var name in new[] { "access_token", "id_token" })
        {
            var token = new JsonWebToken(tokens.GetProperty(name).GetString()!);
            token.Alg.Should().Be(SecurityAlgorithms.RsaSha256, "{0} is verified by others through the JWKS", name);
            token.Kid.Should().Be(server.NewKid);
        }

        // The refresh token still redeems, and no symmetric key is ever published.
        var refreshed = await (await api.RefreshAsync(signedIn.ClientId, tokens.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();
        refreshed.GetProperty("access_token").GetString().Should().NotBeNullOrEmpty();
        jwks.Keys.Should().OnlyContain(key => key.Kty == JsonWebAlgorithmsKeyTypes.RSA && key.K == null);

        // The code and refresh tokens are JWEs only this server opens (stored as payloads of reference tokens):
        // AES-256 key wrap under the key derived from the encryption key, never RSA-OAEP.
        var sealedTokens = await server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>()
            .Set<OpenIddictEntityFrameworkCoreToken>()
            .Where(token => token.Application!.ClientId == signedIn.ClientId && token.Payload != null)
            .Select(token => new { token.Type, token.Payload })
            .ToListAsync());
        sealedTokens.Select(token => token.Type).Should().Contain([OpenIddictConstants.TokenTypeIdentifiers.Private.AuthorizationCode, OpenIddictConstants.TokenTypeIdentifiers.RefreshToken]);
        foreach (var token in sealedTokens)
        {
            var header = new JsonWebToken(token.Payload!);
            header.Alg.Should().Be(SecurityAlgorithms.Aes256KW, "the {0} is sealed with the derived key", token.Type);
            header.Kid.Should().Be(server.EncryptionKid + ".a256kw");
        }
    }

    public sealed class TwoKeys : OAuthServerFactory
    {
        public string OldKid { get; private set; } = string.Empty;

        public string NewKid { get; private set; } = string.Empty;

        public string EncryptionKid { get; private set; } = string.Empty;

        protected override void PrepareKeys(string keysPath)
        {
            OldKid = Write(Path.Combine(keysPath, "signing"), "20200101T000000Z.pem");
            NewKid = Write(Path.Combine(keysPath, "signing"), "20990101T000000Z.pem");
            EncryptionKid = Write(Path.Combine(keysPath, "encryption"), "20200101T000000Z.pem");
        }

        private static string Write(string folder, string name)
        {
            Directory.CreateDirectory(folder);
            using var rsa = RSA.Create(2048);
            File.WriteAllText(Path.Combine(folder, name), rsa.ExportPkcs8PrivateKeyPem());
            var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(rsa.ExportParameters(false)));
            return Base64UrlEncoder.Encode(jwk.ComputeJwkThumbprint());
        }
    }
}
