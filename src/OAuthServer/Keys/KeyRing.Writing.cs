using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace OAuthServer.Keys;

internal sealed partial class KeyRing
{
    /// <summary>
    /// Writes a new key (and its sidecar) into a folder as PKCS#8 PEM; returns its kid. RS256 (the default) makes an
    /// RSA key of <paramref name="rsaBits"/> (<see cref="RsaKeySize"/> unless given), ES256 a P-256 EC key. Used by
    /// Development and <c>keys new</c>.
    /// </summary>
    public static string Create(string folder, KeyMetadata metadata, DateTime now, string algorithm = SecurityAlgorithms.RsaSha256, int rsaBits = RsaKeySize) =>
        CreateFile(folder, metadata, now, algorithm, rsaBits).Kid;

    /// <summary>As <see cref="Create"/>, and also the path of the key file written.</summary>
    public static (string Kid, string File) CreateFile(string folder, KeyMetadata metadata, DateTime now, string algorithm = SecurityAlgorithms.RsaSha256, int rsaBits = RsaKeySize)
    {
        if (!RsaKeySizes.Contains(rsaBits))
        {
            throw new ArgumentException($"Keys: an RSA key is {string.Join(", ", RsaKeySizes)} bits, not {rsaBits}.", nameof(rsaBits));
        }

        using AsymmetricAlgorithm key = algorithm switch
        {
            SecurityAlgorithms.RsaSha256 => RSA.Create(rsaBits),
            SecurityAlgorithms.EcdsaSha256 => ECDsa.Create(ECCurve.NamedCurves.nistP256),
            _ => throw new ArgumentException($"Keys: a new key is RS256 or ES256, not {algorithm}.", nameof(algorithm)),
        };
        // Note: a folder of private keys is its owner's only (threat model 2.5: restricted access).
        Data.OwnerOnlyFiles.CreateDirectory(folder);
        var name = $"{now:yyyyMMdd'T'HHmmss'Z'}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        var file = System.IO.Path.Combine(folder, name + ".pem");
        // Note: the sidecar names the kid, so the file to delete in an emergency can be found from a token's
        // header (or `keys list`) by a grep. It goes first, so a node that reloads in between never sees the key
        // without its activation date (and starts signing with it too early).
        var kid = metadata.Kid ?? Thumbprint(key);
        WriteSidecar(file, metadata with { Kid = kid });
        WriteSecret(file, key.ExportPkcs8PrivateKeyPem());
        return (kid, file);
    }

    public static void WriteSidecar(string keyFile, KeyMetadata metadata) =>
        File.WriteAllText(System.IO.Path.ChangeExtension(keyFile, ".json"), JsonSerializer.Serialize(metadata, SidecarJson));

    private static void GenerateIfEmpty(string folder)
    {
        if (!Directory.Exists(folder) || !Directory.GetFiles(folder).Any(Snapshot.IsKeyFileName))
        {
            Create(folder, new KeyMetadata(), DateTime.UtcNow);
        }
    }

    // Note: a private key is created readable by its owner only, never briefly world-readable.
    private static void WriteSecret(string file, string content)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var writer = new StreamWriter(file, System.Text.Encoding.ASCII, options);
        writer.Write(content);
    }

    /// <summary>
    /// The RFC 7638 JWK thumbprint of a public key, base64url: SHA-256 over the JSON of the key's required members
    /// only, in lexicographic order, without whitespace (§3). For RSA those are e, kty, n (§3.1); for EC they are
    /// crv, kty, x, y (§3.2), with x and y at the full coordinate size (RFC 7518 §6.2.1.2, as .NET exports them).
    /// </summary>
    internal static string Thumbprint(AsymmetricAlgorithm key) => Base64UrlEncoder.Encode((key switch
    {
        RSA rsa => JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(rsa.ExportParameters(includePrivateParameters: false))),
        ECDsa ecdsa => JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(PublicOnly(ecdsa))),
        _ => throw new ArgumentException($"Keys: no thumbprint for a {key.GetType().Name}.", nameof(key)),
    }).ComputeJwkThumbprint());

    // Note: only the public half goes into the JWK the thumbprint is computed over.
    private static ECDsa PublicOnly(ECDsa key) => ECDsa.Create(key.ExportParameters(includePrivateParameters: false));
}
