using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.IdentityModel.Tokens;

namespace OAuthServer.Keys;

/// <summary>
/// The keys that sign access and identity tokens (RSA for RS256, the default, or EC P-256 for ES256, chosen per
/// key) and the RSA keys that encrypt codes and refresh tokens, read from the key folder. Every key has a stable
/// <c>kid</c> (its RFC 7638 JWK thumbprint unless its sidecar names one), so every node publishes the same JWKS.
/// Of the keys usable now, the one activated last (or, without dates, the file whose name sorts last) is active;
/// the others stay published so that tokens they made keep validating. A file that can't be used is skipped
/// (see <see cref="Skipped"/>); the other keys still load.
/// </summary>
internal sealed class KeyRing
{
    public const string SigningFolder = "signing";
    public const string EncryptionFolder = "encryption";
    public const int RsaKeySize = 3072;

    /// <summary>RFC 7518 §3.3: an RSA key used with RS256 must be at least 2048 bits (IdentityModel refuses to sign with less).</summary>
    public const int MinimumRsaKeySize = 2048;

    /// <summary>What <c>keys new --alg</c> and a sidecar's <c>alg</c> may say for a signing key.</summary>
    public static readonly IReadOnlyList<string> SigningAlgorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256];

    private volatile Snapshot _current;

    public KeyRing(string path, bool generateMissing)
    {
        Path = path;
        if (generateMissing)
        {
            GenerateIfEmpty(System.IO.Path.Combine(path, SigningFolder));
            GenerateIfEmpty(System.IO.Path.Combine(path, EncryptionFolder));
        }

        _current = Snapshot.Load(path);
    }

    public string Path { get; }

    public IReadOnlyList<KeyEntry> Signing => _current.Signing;

    public IReadOnlyList<KeyEntry> Encryption => _current.Encryption;

    /// <summary>The files of the current set that were skipped, with the reason; they never carry key material.</summary>
    public IReadOnlyList<SkippedKeyFile> Skipped => _current.Skipped;

    /// <summary>A fingerprint of the files on disk; a change means the folder must be read again.</summary>
    public string Fingerprint => _current.Fingerprint;

    /// <summary>
    /// Reads the folder again. A bad file is skipped on its own (<see cref="Skipped"/>), so it never blocks a good
    /// change beside it; but a set without a usable signing and encryption key never replaces a good one.
    /// </summary>
    public bool TryReload(DateTime now, out string? problem)
    {
        try
        {
            var next = Snapshot.Load(Path);
            if (!next.Signing.Any(entry => entry.UsableAt(now)) || !next.Encryption.Any(entry => entry.UsableAt(now)))
            {
                problem = "the key folder has no usable signing or encryption key"
                    + (next.Skipped.Count > 0 ? "; skipped: " + string.Join("; ", next.Skipped) : string.Empty);
                return false;
            }

            _current = next;
            problem = null;
            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or InvalidOperationException or JsonException)
        {
            problem = exception.Message;
            return false;
        }
    }

    /// <summary>
    /// For the server at start-up: the folder must hold at least one key of each kind that loads. Bad files are
    /// skipped, not fatal (see <see cref="KeyRingMonitor.StartAsync"/>), but a ring with nothing to sign or encrypt
    /// with can't serve: that stops start-up and names the skipped files.
    /// </summary>
    public KeyRing EnsureUsable()
    {
        var missing = new[] { (SigningFolder, Signing), (EncryptionFolder, Encryption) }.Where(kind => kind.Item2.Count == 0).Select(kind => kind.Item1).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException(
                $"Keys: no {string.Join(" or ", missing)} key in {Path} could be loaded"
                + (Skipped.Count > 0 ? "; skipped: " + string.Join("; ", Skipped) : "."));
        }

        return this;
    }

    public static string CurrentFingerprint(string path) => Snapshot.FingerprintOf(path);

    /// <summary>The keys in the order OpenIddict should get them: the active one first, gone ones left out.</summary>
    public static IReadOnlyList<KeyEntry> Ordered(IReadOnlyList<KeyEntry> entries, DateTime now, TimeSpan grace) =>
        [.. entries.Where(entry => !entry.GoneAt(now, grace))
            .OrderByDescending(entry => entry.UsableAt(now))
            .ThenByDescending(entry => entry.UsableAt(now) ? entry.Metadata.NotBefore ?? DateTime.MinValue : DateTime.MinValue)
            .ThenByDescending(entry => System.IO.Path.GetFileName(entry.File), StringComparer.Ordinal)];

    public static KeyState StateOf(KeyEntry entry, IReadOnlyList<KeyEntry> entries, DateTime now, TimeSpan grace)
    {
        if (entry.GoneAt(now, grace))
        {
            return KeyState.Gone;
        }

        if (entry.Metadata.RetiredAt is not null || entry.Metadata.NotAfter <= now)
        {
            return KeyState.Retiring;
        }

        if (!entry.UsableAt(now))
        {
            return KeyState.Next;
        }

        return Ordered(entries, now, grace)[0] == entry ? KeyState.Active : KeyState.Standby;
    }

    /// <summary>Names what is missing from a key folder, or returns nothing when it is usable.</summary>
    public static IEnumerable<string> Problems(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            yield return "Keys:Path is not set: mount the signing and encryption keys and point Keys:Path at them.";
            yield break;
        }

        foreach (var folder in new[] { SigningFolder, EncryptionFolder })
        {
            var full = System.IO.Path.Combine(path, folder);
            if (!Directory.Exists(full) || !Directory.GetFiles(full).Any(Snapshot.IsKeyFileName))
            {
                yield return $"Keys:Path has no {folder} key: put a PKCS#8 PEM key (or a certificate with its key) in {full}/.";
            }
        }
    }

    /// <summary>
    /// Writes a new key (and its sidecar) into a folder as PKCS#8 PEM; returns its kid. RS256 (the default) makes a
    /// 3072-bit RSA key, ES256 a P-256 EC key. Used by Development and <c>keys new</c>.
    /// </summary>
    public static string Create(string folder, KeyMetadata metadata, DateTime now, string algorithm = SecurityAlgorithms.RsaSha256) =>
        CreateFile(folder, metadata, now, algorithm).Kid;

    /// <summary>As <see cref="Create"/>, and also the path of the key file written.</summary>
    public static (string Kid, string File) CreateFile(string folder, KeyMetadata metadata, DateTime now, string algorithm = SecurityAlgorithms.RsaSha256)
    {
        using AsymmetricAlgorithm key = algorithm switch
        {
            SecurityAlgorithms.RsaSha256 => RSA.Create(RsaKeySize),
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

    private static readonly JsonSerializerOptions SidecarJson = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

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
