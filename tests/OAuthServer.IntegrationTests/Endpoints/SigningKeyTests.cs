using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Endpoints;

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

    public sealed class TwoKeys : OAuthServerFactory
    {
        public string OldKid { get; private set; } = string.Empty;

        public string NewKid { get; private set; } = string.Empty;

        protected override void PrepareKeys(string keysPath)
        {
            OldKid = Write(Path.Combine(keysPath, "signing"), "20200101T000000Z.pem");
            NewKid = Write(Path.Combine(keysPath, "signing"), "20990101T000000Z.pem");
            Write(Path.Combine(keysPath, "encryption"), "20200101T000000Z.pem");
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
