using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Server;

namespace OAuthServer.Keys;

/// <summary>The <c>Keys</c> section: where the signing and encryption keys are mounted.</summary>
internal sealed class KeysOptions
{
    public const string Section = "Keys";

    /// <summary>
    /// A folder with <c>signing/</c> and <c>encryption/</c> sub-folders of PKCS#8 PEM RSA keys, each optionally
    /// with a <c>.json</c> sidecar (kid, activation, expiry, retirement). In Development it defaults to
    /// <c>data/keys</c> and missing keys are generated there.
    /// </summary>
    public string? Path { get; set; }

    /// <summary>How often a running node looks at the folder (and at the clock) for key changes.</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>What a key file's sidecar says about it. Every field is optional.</summary>
internal sealed record KeyMetadata
{
    [JsonPropertyName("kid")]
    public string? Kid { get; init; }

    /// <summary>Published from the moment the file exists; used only from this instant (UTC).</summary>
    [JsonPropertyName("not_before")]
    public DateTime? NotBefore { get; init; }

    /// <summary>Not used after this instant; published for one more token lifetime.</summary>
    [JsonPropertyName("not_after")]
    public DateTime? NotAfter { get; init; }

    /// <summary>Set by <c>keys retire</c>: not used from then on; published for one more token lifetime.</summary>
    [JsonPropertyName("retired_at")]
    public DateTime? RetiredAt { get; init; }
}

internal enum KeyState
{
    /// <summary>Published, not yet used: its activation is in the future.</summary>
    Next,

    /// <summary>The key that signs (or encrypts) now.</summary>
    Active,

    /// <summary>Usable, but a newer key is active: kept for tokens it made.</summary>
    Standby,

    /// <summary>Retired or past its expiry: published only until the tokens it made have expired.</summary>
    Retiring,

    /// <summary>Retired or expired longer than a token lifetime ago: no longer published or used.</summary>
    Gone,
}

internal sealed record KeyEntry(string File, string Kid, RsaSecurityKey Key, KeyMetadata Metadata)
{
    public bool UsableAt(DateTime now) =>
        (Metadata.NotBefore is null || Metadata.NotBefore <= now)
        && (Metadata.NotAfter is null || Metadata.NotAfter > now)
        && Metadata.RetiredAt is null;

    public bool GoneAt(DateTime now, TimeSpan grace) =>
        (Metadata.RetiredAt is { } retired && retired + grace <= now)
        || (Metadata.NotAfter is { } expiry && expiry + grace <= now);
}

/// <summary>
/// The RSA keys that sign access and identity tokens and encrypt codes and refresh tokens, read from the key
/// folder. Every key has a stable <c>kid</c> (its RFC 7638 JWK thumbprint unless its sidecar names one), so
/// every node publishes the same JWKS. Of the keys usable now, the one activated last (or, without dates, the
/// file whose name sorts last) is active; the others stay published so that tokens they made keep validating.
/// </summary>
internal sealed class KeyRing
{
    public const string SigningFolder = "signing";
    public const string EncryptionFolder = "encryption";
    public const int RsaKeySize = 3072;

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

    /// <summary>A fingerprint of the files on disk; a change means the folder must be read again.</summary>
    public string Fingerprint => _current.Fingerprint;

    /// <summary>Reads the folder again. A set that can't be read, or has no usable signing key, never replaces a good one.</summary>
    public bool TryReload(DateTime now, out string? problem)
    {
        try
        {
            var next = Snapshot.Load(Path);
            if (!next.Signing.Any(entry => entry.UsableAt(now)) || !next.Encryption.Any(entry => entry.UsableAt(now)))
            {
                problem = "the key folder has no usable signing or encryption key";
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
                yield return $"Keys:Path has no {folder} key: put a PKCS#8 PEM RSA key (or a certificate with its key) in {full}/.";
            }
        }
    }

    /// <summary>Writes a new RSA key (and its sidecar) into a folder; returns its kid. Used by Development and <c>keys new</c>.</summary>
    public static string Create(string folder, KeyMetadata metadata, DateTime now)
    {
        Directory.CreateDirectory(folder);
        using var rsa = RSA.Create(RsaKeySize);
        var name = $"{now:yyyyMMdd'T'HHmmss'Z'}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        var file = System.IO.Path.Combine(folder, name + ".pem");
        var kid = Thumbprint(new RsaSecurityKey(rsa.ExportParameters(includePrivateParameters: false)));
        // Note: the sidecar goes first, so a node that reloads in between never sees the key without its
        // activation date (and starts signing with it too early).
        if (metadata != new KeyMetadata())
        {
            WriteSidecar(file, metadata);
        }

        WriteSecret(file, rsa.ExportPkcs8PrivateKeyPem());

        return metadata.Kid ?? kid;
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

    private static string Thumbprint(RsaSecurityKey key) =>
        Base64UrlEncoder.Encode(JsonWebKeyConverter.ConvertFromRSASecurityKey(key).ComputeJwkThumbprint());

    private sealed record Snapshot(IReadOnlyList<KeyEntry> Signing, IReadOnlyList<KeyEntry> Encryption, string Fingerprint)
    {
        // Note: the fingerprint is taken before the files are read, so a change made while reading is seen
        // (and read) at the next round instead of being recorded as already known.
        public static Snapshot Load(string path)
        {
            var fingerprint = FingerprintOf(path);
            return new(Read(System.IO.Path.Combine(path, SigningFolder)), Read(System.IO.Path.Combine(path, EncryptionFolder)), fingerprint);
        }

        public static string FingerprintOf(string path) => string.Join('|',
            new[] { SigningFolder, EncryptionFolder }
                .Select(folder => System.IO.Path.Combine(path, folder))
                .Where(Directory.Exists)
                .SelectMany(Directory.GetFiles)
                .Order(StringComparer.Ordinal)
                .Select(file => $"{file}@{File.GetLastWriteTimeUtc(file).Ticks}"));

        private static List<KeyEntry> Read(string folder)
        {
            if (!Directory.Exists(folder))
            {
                return [];
            }

            var entries = new List<KeyEntry>();
            foreach (var file in Directory.GetFiles(folder).Where(IsKeyFile).Order(StringComparer.Ordinal))
            {
                var (rsa, certificateDates) = ReadKey(file);
                var sidecar = System.IO.Path.ChangeExtension(file, ".json");
                // Note: a certificate's validity is the key's activation and expiry unless a sidecar says otherwise.
                var metadata = File.Exists(sidecar)
                    ? JsonSerializer.Deserialize<KeyMetadata>(File.ReadAllText(sidecar)) ?? new KeyMetadata()
                    : certificateDates ?? new KeyMetadata();
                var key = new RsaSecurityKey(rsa);
                key.KeyId = metadata.Kid ?? Thumbprint(key);
                entries.Add(new KeyEntry(file, key.KeyId, key, metadata));
            }

            return entries;
        }

        public static bool IsKeyFileName(string file) => IsKeyFile(file);

        private static bool IsKeyFile(string file) =>
            file.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase);

        // A key is a PKCS#8 (or PKCS#1) PEM RSA key, a PEM with a certificate and its key, or a PKCS#12 (.pfx)
        // file without a password (the folder itself is the secret). Anything else stops the load.
        private static (RSA Rsa, KeyMetadata? CertificateDates) ReadKey(string file)
        {
            try
            {
                if (file.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase))
                {
                    using var pfx = X509CertificateLoader.LoadPkcs12FromFile(file, password: null);
                    return (pfx.GetRSAPrivateKey() ?? throw new CryptographicException("no RSA private key"), DatesOf(pfx));
                }

                var text = File.ReadAllText(file);
                var rsa = RSA.Create();
                rsa.ImportFromPem(text);
                if (!text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
                {
                    return (rsa, null);
                }

                using var certificate = X509Certificate2.CreateFromPem(text);
                return (rsa, DatesOf(certificate));
            }
            catch (Exception exception) when (exception is ArgumentException or CryptographicException)
            {
                throw new InvalidOperationException($"Keys: {file} is not an RSA private key (PKCS#8 PEM, PEM certificate with key, or .pfx).", exception);
            }
        }

        private static KeyMetadata DatesOf(X509Certificate2 certificate) =>
            new() { NotBefore = certificate.NotBefore.ToUniversalTime(), NotAfter = certificate.NotAfter.ToUniversalTime() };
    }
}

/// <summary>
/// Hands the key ring to OpenIddict, active key first: OpenIddict signs and encrypts with the first key it is
/// given and publishes every signing key in the JWKS. Re-run whenever <see cref="KeyRingMonitor"/> signals a change.
/// </summary>
internal sealed class KeyRingConfigurator(KeyRing ring, TimeProvider clock, IOptions<Protocol.TokenOptions> tokens) : IConfigureOptions<OpenIddictServerOptions>
{
    public void Configure(OpenIddictServerOptions options)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var entry in KeyRing.Ordered(ring.Signing, now, tokens.Value.SigningKeyGrace))
        {
            options.SigningCredentials.Add(new SigningCredentials(entry.Key, SecurityAlgorithms.RsaSha256));
        }

        // Note: old encryption keys must stay while codes and refresh tokens sealed with them can be redeemed.
        foreach (var entry in KeyRing.Ordered(ring.Encryption, now, tokens.Value.RefreshTokenLifetime))
        {
            options.EncryptionCredentials.Add(new EncryptingCredentials(
                entry.Key, SecurityAlgorithms.RsaOAEP, SecurityAlgorithms.Aes256CbcHmacSha512));
        }
    }
}

/// <summary>Outside Development, keys must be mounted; a missing key stops start-up with the folder it expected.</summary>
internal sealed class KeysOptionsValidator(IHostEnvironment environment) : IValidateOptions<KeysOptions>
{
    public ValidateOptionsResult Validate(string? name, KeysOptions options)
    {
        if (options.ReloadInterval < TimeSpan.FromMilliseconds(100))
        {
            return ValidateOptionsResult.Fail("Keys:ReloadInterval must be at least 00:00:00.1.");
        }

        if (environment.IsDevelopment())
        {
            return ValidateOptionsResult.Success;
        }

        var problems = KeyRing.Problems(options.Path).ToList();
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

internal static class KeysServiceCollectionExtensions
{
    public const string DevelopmentKeysPath = "data/keys";

    public static IHostApplicationBuilder AddOAuthKeys(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<KeysOptions>().BindConfiguration(KeysOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<KeysOptions>, KeysOptionsValidator>();
        builder.Services.AddSingleton(services => new KeyRing(ResolvePath(services), generateMissing: services.GetRequiredService<IHostEnvironment>().IsDevelopment()));
        builder.Services.AddSingleton<IConfigureOptions<OpenIddictServerOptions>, KeyRingConfigurator>();
        builder.Services.AddSingleton<KeyRingMonitor>();
        builder.Services.AddSingleton<IOptionsChangeTokenSource<OpenIddictServerOptions>>(services => services.GetRequiredService<KeyRingMonitor>());
        builder.Services.AddSingleton<IOptionsChangeTokenSource<OpenIddict.Validation.OpenIddictValidationOptions>, ValidationKeysChangeTokenSource>();
        builder.Services.AddHostedService(services => services.GetRequiredService<KeyRingMonitor>());
        return builder;
    }

    /// <summary>The key folder: Keys:Path, or data/keys in Development, relative to the content root.</summary>
    public static string ResolvePath(IServiceProvider services)
    {
        var environment = services.GetRequiredService<IHostEnvironment>();
        // Note: read from configuration, not the validated options: `keys new` must work on an empty folder.
        var configured = services.GetRequiredService<IConfiguration>().GetSection(KeysOptions.Section).Get<KeysOptions>()?.Path;
        var path = string.IsNullOrWhiteSpace(configured) && environment.IsDevelopment() ? DevelopmentKeysPath : configured ?? string.Empty;
        return System.IO.Path.GetFullPath(path, environment.ContentRootPath);
    }
}
