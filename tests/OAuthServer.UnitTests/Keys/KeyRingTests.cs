using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.Keys;

namespace OAuthServer.UnitTests.Keys;

/// <summary>How the key folder is read: kids, algorithms per key, and bad files skipped one by one.</summary>
public sealed class KeyRingTests : IDisposable
{
    // RFC 7517 appendix A.1/A.2: the example EC P-256 key. Its RFC 7638 thumbprint is SHA-256 over
    // {"crv":"P-256","kty":"EC","x":"MKBC…","y":"4Etl…"}, base64url: computed independently of this code base.
    private const string ExampleX = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
    private const string ExampleY = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
    private const string ExampleD = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE";
    private const string ExampleThumbprint = "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s";

    private readonly string _path = Directory.CreateTempSubdirectory("oauth-keyring-").FullName;

    private string Signing => Path.Combine(_path, KeyRing.SigningFolder);

    private string Encryption => Path.Combine(_path, KeyRing.EncryptionFolder);

    public KeyRingTests()
    {
        Directory.CreateDirectory(Signing);
        Directory.CreateDirectory(Encryption);
    }

    public void Dispose() => Directory.Delete(_path, recursive: true);

    [Fact]
    public void The_kid_of_an_EC_key_is_its_RFC_7638_thumbprint_over_crv_kty_x_and_y()
    {
        using var key = ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = Base64UrlEncoder.DecodeBytes(ExampleX), Y = Base64UrlEncoder.DecodeBytes(ExampleY) },
            D = Base64UrlEncoder.DecodeBytes(ExampleD),
        });
        File.WriteAllText(Path.Combine(Signing, "example.pem"), key.ExportPkcs8PrivateKeyPem());
        KeyRing.Create(Encryption, new KeyMetadata(), DateTime.UtcNow);

        var entry = new KeyRing(_path, generateMissing: false).Signing.Single();

        entry.Kid.Should().Be(ExampleThumbprint);
        entry.Algorithm.Should().Be(SecurityAlgorithms.EcdsaSha256);
        entry.Key.Should().BeOfType<ECDsaSecurityKey>();
        KeyRing.Thumbprint(key).Should().Be(ExampleThumbprint);
    }

    [Fact]
    public void The_thumbprint_of_a_P384_key_names_its_own_curve()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var point = key.ExportParameters(includePrivateParameters: false).Q;
        var canonical = $$"""{"crv":"P-384","kty":"EC","x":"{{Base64UrlEncoder.Encode(point.X)}}","y":"{{Base64UrlEncoder.Encode(point.Y)}}"}""";

        KeyRing.Thumbprint(key).Should().Be(Base64UrlEncoder.Encode(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonical))));
    }

    [Fact]
    public void Create_writes_an_ES256_key_as_PKCS8_PEM_on_P256_and_returns_the_kid_the_loader_computes()
    {
        var kid = KeyRing.Create(Signing, new KeyMetadata(), DateTime.UtcNow, SecurityAlgorithms.EcdsaSha256);

        var file = Directory.GetFiles(Signing, "*.pem").Single();
        File.ReadAllText(file).Should().StartWith("-----BEGIN PRIVATE KEY-----");
        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(file));
        key.ExportParameters(false).Curve.Oid.Value.Should().Be(ECCurve.NamedCurves.nistP256.Oid.Value);
        new KeyRing(_path, generateMissing: false).Signing.Single().Kid.Should().Be(kid);
    }

    [Fact]
    public void A_sidecar_kid_wins_and_a_sidecar_alg_must_match_the_key()
    {
        KeyRing.Create(Signing, new KeyMetadata { Kid = "named", Alg = SecurityAlgorithms.EcdsaSha256 }, DateTime.UtcNow, SecurityAlgorithms.EcdsaSha256);
        KeyRing.Create(Signing, new KeyMetadata { Alg = SecurityAlgorithms.EcdsaSha256 }, DateTime.UtcNow.AddSeconds(1));

        var ring = new KeyRing(_path, generateMissing: false);

        ring.Signing.Select(entry => entry.Kid).Should().Equal("named");
        ring.Skipped.Should().ContainSingle().Which.Reason.Should().Contain("alg ES256").And.Contain("RS256");
    }

    [Fact]
    public void Bad_files_are_skipped_one_by_one_with_their_name_and_reason_and_the_good_keys_load()
    {
        var good = KeyRing.Create(Signing, new KeyMetadata(), DateTime.UtcNow);
        KeyRing.Create(Encryption, new KeyMetadata(), DateTime.UtcNow);
        File.WriteAllText(Path.Combine(Signing, "broken.pem"), "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
        using (var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384))
        {
            File.WriteAllText(Path.Combine(Signing, "p384.pem"), p384.ExportPkcs8PrivateKeyPem());
        }

        var ecEncryption = NewFile(Encryption, () => KeyRing.Create(Encryption, new KeyMetadata(), DateTime.UtcNow, SecurityAlgorithms.EcdsaSha256));
        var badSidecar = NewFile(Signing, () => KeyRing.Create(Signing, new KeyMetadata(), DateTime.UtcNow.AddSeconds(1)));
        File.WriteAllText(Path.ChangeExtension(badSidecar, ".json"), "{ not json");

        var ring = new KeyRing(_path, generateMissing: false).EnsureUsable();

        ring.Signing.Select(entry => entry.Kid).Should().Equal(good);
        ring.Encryption.Should().ContainSingle().Which.Algorithm.Should().Be(SecurityAlgorithms.RsaOAEP);
        ring.Skipped.Select(file => file.File).Should().BeEquivalentTo(
            ["signing/broken.pem", "signing/p384.pem", "signing/" + Path.GetFileName(badSidecar), "encryption/" + Path.GetFileName(ecEncryption)]);
        ring.Skipped.Single(file => file.File == "signing/p384.pem").Reason.Should().Contain("P-256");
        ring.Skipped.Single(file => file.File.StartsWith("encryption/", StringComparison.Ordinal)).Reason.Should().Contain("encryption keys are RSA");
        ring.Skipped.Single(file => file.File.EndsWith(Path.GetFileName(badSidecar), StringComparison.Ordinal)).Reason.Should().Contain("sidecar");
        ring.Skipped.Should().OnlyContain(file => !file.Reason.Contains("bm90IGEga2V5", StringComparison.Ordinal), "a reason never repeats the file's content");
    }

    private static string NewFile(string folder, Action create)
    {
        var before = Directory.GetFiles(folder, "*.pem");
        create();
        return Directory.GetFiles(folder, "*.pem").Except(before).Single();
    }

    [Fact]
    public void A_folder_where_no_signing_key_loads_stops_start_up_and_names_the_file()
    {
        KeyRing.Create(Encryption, new KeyMetadata(), DateTime.UtcNow);
        File.WriteAllText(Path.Combine(Signing, "broken.pem"), "not a key");

        var ring = new KeyRing(_path, generateMissing: false);

        FluentActions.Invoking(ring.EnsureUsable).Should().Throw<InvalidOperationException>()
            .WithMessage("*no signing key*signing/broken.pem*");
    }

    [Fact]
    public void A_reload_that_leaves_no_usable_key_is_refused_and_the_last_good_set_stays()
    {
        var good = KeyRing.Create(Signing, new KeyMetadata(), DateTime.UtcNow);
        KeyRing.Create(Encryption, new KeyMetadata(), DateTime.UtcNow);
        var ring = new KeyRing(_path, generateMissing: false);
        foreach (var file in Directory.GetFiles(Signing))
        {
            File.Delete(file);
        }

        File.WriteAllText(Path.Combine(Signing, "broken.pem"), "not a key");

        ring.TryReload(DateTime.UtcNow, out var problem).Should().BeFalse();
        problem.Should().Contain("signing/broken.pem");
        ring.Signing.Select(entry => entry.Kid).Should().Equal(good);
    }
}
