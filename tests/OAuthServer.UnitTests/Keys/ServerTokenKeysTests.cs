using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.Keys;

namespace OAuthServer.UnitTests.Keys;

public sealed class ServerTokenKeysTests
{
    [Fact]
    public void Every_node_derives_the_same_keys_from_the_same_key_file()
    {
        using var rsa = RSA.Create(2048);
        var pem = rsa.ExportPkcs8PrivateKeyPem();

        var first = ServerTokenKeys.Derive(Entry(pem, "kid-1"))!;
        var second = ServerTokenKeys.Derive(Entry(pem, "kid-1"))!;

        Bytes(first.Signing.Key).Should().Equal(Bytes(second.Signing.Key));
        Bytes(first.Wrapping.Key).Should().Equal(Bytes(second.Wrapping.Key));
        first.Signing.Key.KeyId.Should().Be("kid-1.hs256");
        first.Wrapping.Key.KeyId.Should().Be("kid-1.a256kw");
    }

    [Fact]
    public void The_signing_and_wrapping_keys_are_independent_256_bit_keys_and_differ_per_encryption_key()
    {
        using var one = RSA.Create(2048);
        using var two = RSA.Create(2048);

        var a = ServerTokenKeys.Derive(Entry(one.ExportPkcs8PrivateKeyPem(), "a"))!;
        var b = ServerTokenKeys.Derive(Entry(two.ExportPkcs8PrivateKeyPem(), "b"))!;

        Bytes(a.Signing.Key).Should().HaveCount(32);
        Bytes(a.Wrapping.Key).Should().HaveCount(32);
        Bytes(a.Signing.Key).Should().NotEqual(Bytes(a.Wrapping.Key));
        Bytes(a.Signing.Key).Should().NotEqual(Bytes(b.Signing.Key));
        a.Signing.Algorithm.Should().Be(SecurityAlgorithms.HmacSha256);
        a.Wrapping.Alg.Should().Be(SecurityAlgorithms.Aes256KW);
    }

    [Fact]
    public void A_public_key_alone_derives_nothing()
    {
        using var rsa = RSA.Create(2048);
        var publicOnly = new RsaSecurityKey(rsa.ExportParameters(includePrivateParameters: false)) { KeyId = "public" };

        ServerTokenKeys.Derive(new KeyEntry("public.pem", "public", publicOnly, "RSA-OAEP", new KeyMetadata())).Should().BeNull();
    }

    private static KeyEntry Entry(string pem, string kid)
    {
        var rsa = RSA.Create();
        rsa.ImportFromPem(pem);
        return new KeyEntry($"{kid}.pem", kid, new RsaSecurityKey(rsa) { KeyId = kid }, "RSA-OAEP", new KeyMetadata());
    }

    private static byte[] Bytes(SecurityKey key) => ((SymmetricSecurityKey)key).Key;
}
