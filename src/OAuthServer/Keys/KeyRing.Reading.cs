using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace OAuthServer.Keys;

internal sealed partial class KeyRing
{
    private sealed record Snapshot(IReadOnlyList<KeyEntry> Signing, IReadOnlyList<KeyEntry> Encryption, IReadOnlyList<SkippedKeyFile> Skipped, string Fingerprint)
    {
        // Note: the fingerprint is taken before the files are read, so a change made while reading is seen
        // (and read) at the next round instead of being recorded as already known.
        public static Snapshot Load(string path)
        {
            var fingerprint = FingerprintOf(path);
            var skipped = new List<SkippedKeyFile>();
            var signing = Read(path, SigningFolder, skipped);
            var encryption = Read(path, EncryptionFolder, skipped);
            return new(signing, encryption, skipped, fingerprint);
        }

        public static string FingerprintOf(string path) => string.Join('|',
            new[] { SigningFolder, EncryptionFolder }
                .Select(folder => System.IO.Path.Combine(path, folder))
                .Where(Directory.Exists)
                .SelectMany(Directory.GetFiles)
                .Order(StringComparer.Ordinal)
                .Select(file => $"{file}@{File.GetLastWriteTimeUtc(file).Ticks}"));

        // Note: each file is read on its own. A bad one (corrupt, half-copied, wrong key type, bad sidecar) is
        // skipped with its reason and never stops the others, so one stray file can't block a good change.
        private static List<KeyEntry> Read(string path, string use, List<SkippedKeyFile> skipped)
        {
            var folder = System.IO.Path.Combine(path, use);
            if (!Directory.Exists(folder))
            {
                return [];
            }

            var entries = new List<KeyEntry>();
            foreach (var file in Directory.GetFiles(folder).Where(IsKeyFile).Order(StringComparer.Ordinal))
            {
                try
                {
                    entries.Add(ReadEntry(file, use));
                }
                catch (Exception exception) when (exception is InvalidOperationException or JsonException or IOException or UnauthorizedAccessException)
                {
                    // Note: the reason is our own sentence or a parser's, never the file's content.
                    skipped.Add(new($"{use}/{System.IO.Path.GetFileName(file)}", exception is JsonException
                        ? "its .json sidecar is not valid JSON"
                        : exception.Message));
                }
            }

            return entries;
        }

        private static KeyEntry ReadEntry(string file, string use)
        {
            var (algorithm, certificateDates) = ReadKey(file);
            try
            {
                var sidecar = System.IO.Path.ChangeExtension(file, ".json");
                // Note: a certificate's validity is the key's activation and expiry unless a sidecar says otherwise.
                var metadata = File.Exists(sidecar)
                    ? JsonSerializer.Deserialize<KeyMetadata>(File.ReadAllText(sidecar)) ?? new KeyMetadata()
                    : certificateDates ?? new KeyMetadata();
                var (key, jwa) = (algorithm, use) switch
                {
                    (RSA rsa, _) when rsa.KeySize < MinimumRsaKeySize => throw new InvalidOperationException(
                        $"an RSA key of {rsa.KeySize} bits is too short (at least {MinimumRsaKeySize}, RFC 7518 §3.3)"),
                    (RSA rsa, EncryptionFolder) => ((AsymmetricSecurityKey)new RsaSecurityKey(rsa), SecurityAlgorithms.RsaOAEP),
                    (RSA rsa, _) => (new RsaSecurityKey(rsa), SecurityAlgorithms.RsaSha256),
                    // Note: encryption stays RSA-OAEP (RFC 7518 §4.3): OpenIddict's code and refresh-token sealing uses it.
                    (ECDsa, EncryptionFolder) => throw new InvalidOperationException(
                        "an EC key can't be an encryption key: encryption keys are RSA (RSA-OAEP); EC P-256 is for ES256 signing keys"),
                    (ECDsa ecdsa, _) => (new ECDsaSecurityKey(ecdsa), SecurityAlgorithms.EcdsaSha256),
                    _ => throw new InvalidOperationException("not an RSA or EC private key"),
                };

                if (metadata.Alg is { } stated && stated != jwa)
                {
                    throw new InvalidOperationException($"its sidecar says alg {stated}, but the key is for {jwa}");
                }

                key.KeyId = metadata.Kid ?? Thumbprint(algorithm);
                return new KeyEntry(file, key.KeyId, key, jwa, metadata);
            }
            catch
            {
                algorithm.Dispose();
                throw;
            }
        }

        public static bool IsKeyFileName(string file) => IsKeyFile(file);

        private static bool IsKeyFile(string file) =>
            file.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase);

        // A key is a PKCS#8 (or PKCS#1 / SEC1) PEM private key, a PEM with a certificate and its key, or a PKCS#12
        // (.pfx) file without a password (the folder itself is the secret). RSA, or EC on P-256 only: ES256 is
        // ECDSA on P-256 with SHA-256 (RFC 7518 §3.4), and another curve would sign with another algorithm.
        private static (AsymmetricAlgorithm Key, KeyMetadata? CertificateDates) ReadKey(string file)
        {
            try
            {
                if (file.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase))
                {
                    using var pfx = X509CertificateLoader.LoadPkcs12FromFile(file, password: null);
                    AsymmetricAlgorithm key = pfx.GetRSAPrivateKey() as AsymmetricAlgorithm ?? pfx.GetECDsaPrivateKey()
                        ?? throw new CryptographicException("no RSA or EC private key");
                    return (CheckCurve(key), DatesOf(pfx));
                }

                var text = File.ReadAllText(file);
                var pemKey = ImportPem(text);
                if (!text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
                {
                    return (pemKey, null);
                }

                using var certificate = X509Certificate2.CreateFromPem(text);
                return (pemKey, DatesOf(certificate));
            }
            catch (Exception exception) when (exception is ArgumentException or CryptographicException)
            {
                throw new InvalidOperationException(
                    "not a usable private key (PKCS#8 PEM, PEM certificate with key, or .pfx; RSA, or EC on P-256)", exception);
            }
        }

        // Note: a PKCS#8 "PRIVATE KEY" block doesn't say its type in the label, so RSA is tried first, then EC.
        private static AsymmetricAlgorithm ImportPem(string text)
        {
            var rsa = RSA.Create();
            try
            {
                rsa.ImportFromPem(text);
                return rsa;
            }
            catch (Exception exception) when (exception is ArgumentException or CryptographicException)
            {
                rsa.Dispose();
            }

            var ecdsa = ECDsa.Create();
            try
            {
                ecdsa.ImportFromPem(text);
                return CheckCurve(ecdsa);
            }
            catch
            {
                ecdsa.Dispose();
                throw;
            }
        }

        private static AsymmetricAlgorithm CheckCurve(AsymmetricAlgorithm key)
        {
            if (key is ECDsa ecdsa)
            {
                var curve = ecdsa.ExportParameters(includePrivateParameters: false).Curve;
                if (!curve.IsNamed || curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
                {
                    ecdsa.Dispose();
                    throw new InvalidOperationException($"an EC key on {curve.Oid.FriendlyName ?? curve.Oid.Value ?? "an unnamed curve"}: only P-256 is supported (ES256, RFC 7518 §3.4)");
                }
            }

            return key;
        }

        private static KeyMetadata DatesOf(X509Certificate2 certificate) =>
            new() { NotBefore = certificate.NotBefore.ToUniversalTime(), NotAfter = certificate.NotAfter.ToUniversalTime() };
    }
}
