using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.Options;
using OAuthServer.Data;

namespace OAuthServer.Keys;

/// <summary>The <c>DataProtection</c> section.</summary>
internal sealed class DataProtectionKeyringOptions
{
    public const string Section = "DataProtection";

    /// <summary>
    /// Outside Development, create the key-ring certificate in <c>Keys:Path/data-protection/</c> at start-up when the
    /// folder has none (Keys:Path must be writable). For the first start of the first node; every other node must
    /// be given the same file. In Development the certificate is always created when missing.
    /// </summary>
    public bool CreateCertificateIfMissing { get; set; }
}

/// <summary>
/// The ASP.NET Core Data Protection key ring (session and antiforgery cookies): stored in the database so every node
/// shares it, and encrypted there with a certificate that lives in the key folder, never in the database. Threat
/// model "DB compromise": a copy of the database alone must not be enough to forge a session cookie, and the
/// plaintext ring would be (a cookie is the ring's master key applied to a user id and security stamp).
/// <para>
/// The certificates are the <c>.pfx</c> (without a password) and <c>.pem</c> (certificate and private key) files of
/// <c>Keys:Path/data-protection/</c>. The one with the latest NotBefore encrypts new keys; all of them decrypt, so a
/// rotated-out certificate stays in the folder until the keys it encrypted are no longer needed
/// (ops/runbooks/key-rotation.md). They are read at start-up.
/// </para>
/// </summary>
internal static class DataProtectionKeyring
{
    public const string Folder = "data-protection";
    public const string CreatedFileName = "data-protection.pfx";
    public const string ApplicationName = "OAuthServer";

    public static IHostApplicationBuilder AddOAuthDataProtection(this IHostApplicationBuilder builder)
    {
        var dataProtection = builder.Services.AddDataProtection().PersistKeysToDbContext<OAuthDbContext>().SetApplicationName(ApplicationName);
        var settings = builder.Configuration.GetSection(DataProtectionKeyringOptions.Section).Get<DataProtectionKeyringOptions>() ?? new();
        var folder = ResolveFolder(builder.Configuration, builder.Environment);
        var create = builder.Environment.IsDevelopment() || settings.CreateCertificateIfMissing;

        string? problem = null;
        List<X509Certificate2> certificates = [];
        if (folder is null)
        {
            problem = "Keys:Path is not set: the Data Protection key ring is encrypted with a certificate in Keys:Path/" + Folder + "/.";
        }
        else
        {
            try
            {
                certificates = Load(folder);
                if (certificates.Count == 0 && create)
                {
                    CreateCertificate(folder);
                    certificates = Load(folder);
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or CryptographicException or InvalidOperationException)
            {
                problem = $"the Data Protection certificates in {folder} can't be read or created: {exception.Message}";
            }

            problem ??= certificates.Count == 0
                ? $"no Data Protection certificate in {folder}/: the key ring in the database must be encrypted with a key that is not in the database. "
                    + $"Create one (ops/runbooks/key-rotation.md), or start once with {DataProtectionKeyringOptions.Section}:{nameof(DataProtectionKeyringOptions.CreateCertificateIfMissing)}=true, and give every node the same file."
                : null;
        }

        if (problem is null)
        {
            dataProtection.ProtectKeysWithCertificate(Active(certificates));
            dataProtection.UnprotectKeysWithAnyCertificate([.. certificates]);
            // Note: a key an older release (or a misconfigured node) stored in plaintext is readable from a copy of
            // the database, so it must not seal or open anything: the ring never sees it, and makes a new key.
            builder.Services.PostConfigure<KeyManagementOptions>(options =>
                options.XmlRepository = options.XmlRepository is { } stored ? new EncryptedKeysOnly(stored) : null);
        }
        else
        {
            // Note: deny by default: without a certificate no key is ever written in plaintext (a CLI verb, which
            // never starts the host and so never runs the validation below, fails on first use instead).
            builder.Services.Configure<KeyManagementOptions>(options => options.XmlEncryptor = new RefusingXmlEncryptor(problem));
        }

        builder.Services.AddOptions<DataProtectionKeyringOptions>().BindConfiguration(DataProtectionKeyringOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<DataProtectionKeyringOptions>>(new KeyringValidator(problem));
        return builder;
    }

    /// <summary>Keys:Path/data-protection, as <see cref="KeysServiceCollectionExtensions.ResolvePath"/> resolves Keys:Path.</summary>
    private static string? ResolveFolder(IConfiguration configuration, IHostEnvironment environment)
    {
        var configured = configuration.GetSection(KeysOptions.Section).Get<KeysOptions>()?.Path;
        if (string.IsNullOrWhiteSpace(configured))
        {
            if (!environment.IsDevelopment())
            {
                return null;
            }

            configured = KeysServiceCollectionExtensions.DevelopmentKeysPath;
        }

        return Path.Combine(Path.GetFullPath(configured, environment.ContentRootPath), Folder);
    }

    /// <summary>Every certificate of the folder, the one that encrypts first.</summary>
    public static List<X509Certificate2> Load(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return [];
        }

        var certificates = new List<X509Certificate2>();
        foreach (var file in Directory.GetFiles(folder).Order(StringComparer.Ordinal))
        {
            var certificate = Path.GetExtension(file).ToLowerInvariant() switch
            {
                ".pfx" or ".p12" => X509CertificateLoader.LoadPkcs12FromFile(file, password: null),
                ".pem" => X509Certificate2.CreateFromPemFile(file),
                _ => null,
            };
            if (certificate is null)
            {
                continue;
            }

            if (!certificate.HasPrivateKey || certificate.GetRSAPrivateKey() is null)
            {
                throw new InvalidOperationException($"{Path.GetFileName(file)} has no RSA private key (a certificate with its RSA key is needed to decrypt the key ring).");
            }

            certificates.Add(certificate);
        }

        return certificates;
    }

    private static X509Certificate2 Active(List<X509Certificate2> certificates) =>
        certificates.OrderByDescending(certificate => certificate.NotBefore).First();

    /// <summary>
    /// Writes a new self-signed RSA certificate with its key into <paramref name="folder"/> (owner-only: folder 0700,
    /// file 0600) and returns its file. Atomic: the file appears whole, and a second process creating one at the same
    /// moment keeps the first one's.
    /// </summary>
    public static string CreateCertificate(string folder, string fileName = CreatedFileName)
    {
        OwnerOnlyFiles.CreateDirectory(folder);
        // Note: 2048 bits (NIST SP 800-57: 112-bit strength, fine through 2030) for a key that only wraps the ring's
        // AES keys and is never published; it is made at every Development start on a fresh folder.
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=OAuthServer Data Protection", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.DataEncipherment, critical: true));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(100));
        var bytes = certificate.Export(X509ContentType.Pfx);

        var target = Path.Combine(folder, fileName);
        var temporary = Path.Combine(folder, $".{fileName}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnlyFiles.FileMode;
        }

        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(bytes);
        }

        try
        {
            File.Move(temporary, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            File.Delete(temporary);
        }

        return target;
    }

    private sealed class KeyringValidator(string? problem) : IValidateOptions<DataProtectionKeyringOptions>
    {
        public ValidateOptionsResult Validate(string? name, DataProtectionKeyringOptions options) =>
            problem is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail("Data Protection: " + problem);
    }

    /// <summary>The stored ring without its plaintext keys; revocations and encrypted keys pass through.</summary>
    private sealed class EncryptedKeysOnly(IXmlRepository stored) : IXmlRepository
    {
        public IReadOnlyCollection<XElement> GetAllElements() =>
            [.. stored.GetAllElements().Where(element => element.Name.LocalName != "key" || IsEncrypted(element))];

        public void StoreElement(XElement element, string friendlyName) => stored.StoreElement(element, friendlyName);

        // An encrypted key's descriptor holds <encryptedSecret> in place of the plaintext <masterKey>.
        private static bool IsEncrypted(XElement key) =>
            key.Descendants().Any(element => element.Name.LocalName == "encryptedSecret")
            && !key.Descendants().Any(element => element.Name.LocalName == "masterKey");
    }

    private sealed class RefusingXmlEncryptor(string problem) : IXmlEncryptor
    {
        public EncryptedXmlInfo Encrypt(XElement plaintextElement) =>
            throw new InvalidOperationException("Data Protection: refusing to store a key unencrypted: " + problem);
    }
}
