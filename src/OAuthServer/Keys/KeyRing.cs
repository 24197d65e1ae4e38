using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Server;

namespace OAuthServer.Keys;

/// <summary>The <c>Keys</c> section: where the signing and encryption keys are mounted.</summary>
internal sealed class KeysOptions
{
    public const string Section = "Keys";

    /// <summary>
    /// A folder with <c>signing/</c> and <c>encryption/</c> sub-folders of PKCS#8 PEM RSA keys. In Development it
    /// defaults to <c>data/keys</c> and missing keys are generated there.
    /// </summary>
    public string? Path { get; set; }
}

/// <summary>
/// Loads the RSA keys that sign access tokens and encrypt codes and refresh tokens. Every key gets a stable
/// <c>kid</c>: its RFC 7638 JWK thumbprint, so the same key has the same kid on every node.
/// </summary>
internal sealed class KeyRing
{
    public const string SigningFolder = "signing";
    public const string EncryptionFolder = "encryption";
    private const int RsaKeySize = 3072;

    public KeyRing(string path, bool generateMissing)
    {
        Path = path;
        if (generateMissing)
        {
            GenerateIfEmpty(System.IO.Path.Combine(path, SigningFolder));
            GenerateIfEmpty(System.IO.Path.Combine(path, EncryptionFolder));
        }

        SigningKeys = Load(System.IO.Path.Combine(path, SigningFolder));
        EncryptionKeys = Load(System.IO.Path.Combine(path, EncryptionFolder));
    }

    public string Path { get; }

    public IReadOnlyList<RsaSecurityKey> SigningKeys { get; }

    public IReadOnlyList<RsaSecurityKey> EncryptionKeys { get; }

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
            if (!Directory.Exists(full) || Directory.GetFiles(full, "*.pem").Length == 0)
            {
                yield return $"Keys:Path has no {folder} key: put a PKCS#8 PEM RSA key in {full}/.";
            }
        }
    }

    private static void GenerateIfEmpty(string folder)
    {
        Directory.CreateDirectory(folder);
        if (Directory.GetFiles(folder, "*.pem").Length > 0)
        {
            return;
        }

        using var rsa = RSA.Create(RsaKeySize);
        var file = System.IO.Path.Combine(folder, $"{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}.pem");
        File.WriteAllText(file, rsa.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            // Note: a private key is readable by its owner only.
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private static List<RsaSecurityKey> Load(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return [];
        }

        // Note: every key is published, but OpenIddict signs (and encrypts) with the first one it is given; the
        // file whose name sorts last (by convention a UTC timestamp) comes first, so the newest key is active.
        var keys = new List<RsaSecurityKey>();
        foreach (var file in Directory.GetFiles(folder, "*.pem").OrderDescending(StringComparer.Ordinal))
        {
            var rsa = RSA.Create();
            try
            {
                rsa.ImportFromPem(File.ReadAllText(file));
            }
            catch (Exception exception) when (exception is ArgumentException or CryptographicException)
            {
                rsa.Dispose();
                throw new InvalidOperationException($"Keys: {file} is not a PEM RSA private key.", exception);
            }

            var key = new RsaSecurityKey(rsa);
            key.KeyId = KeyId(key);
            keys.Add(key);
        }

        return keys;
    }

    private static string KeyId(RsaSecurityKey key) =>
        Base64UrlEncoder.Encode(JsonWebKeyConverter.ConvertFromRSASecurityKey(key).ComputeJwkThumbprint());
}

/// <summary>Hands the key ring to OpenIddict.</summary>
internal sealed class KeyRingConfigurator(KeyRing ring) : IConfigureOptions<OpenIddictServerOptions>
{
    public void Configure(OpenIddictServerOptions options)
    {
        foreach (var key in ring.SigningKeys)
        {
            options.SigningCredentials.Add(new SigningCredentials(key, SecurityAlgorithms.RsaSha256));
        }

        foreach (var key in ring.EncryptionKeys)
        {
            options.EncryptionCredentials.Add(new EncryptingCredentials(
                key, SecurityAlgorithms.RsaOAEP, SecurityAlgorithms.Aes256CbcHmacSha512));
        }
    }
}

/// <summary>Outside Development, keys must be mounted; a missing key stops start-up with the folder it expected.</summary>
internal sealed class KeysOptionsValidator(IHostEnvironment environment) : IValidateOptions<KeysOptions>
{
    public ValidateOptionsResult Validate(string? name, KeysOptions options)
    {
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
        builder.Services.AddSingleton(services =>
        {
            var environment = services.GetRequiredService<IHostEnvironment>();
            var configured = services.GetRequiredService<IOptions<KeysOptions>>().Value.Path;
            var isDevelopment = environment.IsDevelopment();
            var path = string.IsNullOrWhiteSpace(configured) && isDevelopment ? DevelopmentKeysPath : configured ?? string.Empty;
            // Note: only Development may mint its own keys; production keys come from a mounted secret.
            return new KeyRing(System.IO.Path.GetFullPath(path, environment.ContentRootPath), generateMissing: isDevelopment);
        });
        builder.Services.AddSingleton<IConfigureOptions<OpenIddictServerOptions>, KeyRingConfigurator>();
        return builder;
    }
}
