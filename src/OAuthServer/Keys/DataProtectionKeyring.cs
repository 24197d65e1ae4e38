using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
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
internal static partial class DataProtectionKeyring
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
            builder.Services.AddHostedService<PlaintextKeyRevoker>();
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
    public static string CreateCertificate(string folder)
    {
        OwnerOnlyFiles.CreateDirectory(folder);
        using var key = RSA.Create(KeyRing.RsaKeySize);
        var request = new CertificateRequest("CN=OAuthServer Data Protection", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.DataEncipherment, critical: true));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(100));
        var bytes = certificate.Export(X509ContentType.Pfx);

        var target = Path.Combine(folder, CreatedFileName);
        var temporary = Path.Combine(folder, $".{CreatedFileName}.{Guid.NewGuid():N}.tmp");
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

    /// <summary>
    /// At start-up, revokes every ring key stored in plaintext (written before the ring was encrypted): whoever has
    /// a copy of the database could forge cookies with it for as long as it stays in the ring (90 days as the
    /// default key, and it would keep decrypting after that). Cookies sealed with it end; users sign in again once.
    /// </summary>
    private sealed partial class PlaintextKeyRevoker(IServiceScopeFactory scopes, IKeyManager keys, ILogger<PlaintextKeyRevoker> logger) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var rows = await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ToListAsync(
                    scope.ServiceProvider.GetRequiredService<OAuthDbContext>().DataProtectionKeys, cancellationToken);
                var revoked = new HashSet<Guid>(keys.GetAllKeys().Where(key => key.IsRevoked).Select(key => key.KeyId));
                var plaintext = rows.Select(row => XElement.Parse(row.Xml ?? "<none/>"))
                    .Where(element => element.Name == "key" && element.Descendants("masterKey").Any())
                    .Select(element => Guid.TryParse((string?)element.Attribute("id"), out var id) ? id : Guid.Empty)
                    .Where(id => id != Guid.Empty && !revoked.Contains(id)).ToList();
                foreach (var id in plaintext)
                {
                    keys.RevokeKey(id, "stored unencrypted in the database");
                }

                if (plaintext.Count > 0)
                {
                    LogRevoked(logger, plaintext.Count);
                }
            }
            catch (Exception exception) when (exception is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
            {
                // Note: an unmigrated or unreachable database is reported by readiness; this runs again at the next start.
                LogNotChecked(logger, exception.GetType().Name);
            }
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Warning, Message = "Revoked {Count} Data Protection key(s) that were stored unencrypted: cookies sealed with them no longer count, and their users sign in again")]
        private static partial void LogRevoked(ILogger logger, int count);

        [LoggerMessage(Level = LogLevel.Warning, Message = "The Data Protection key ring could not be checked for unencrypted keys ({ExceptionType}); it is checked again at the next start")]
        private static partial void LogNotChecked(ILogger logger, string exceptionType);
    }

    private sealed class KeyringValidator(string? problem) : IValidateOptions<DataProtectionKeyringOptions>
    {
        public ValidateOptionsResult Validate(string? name, DataProtectionKeyringOptions options) =>
            problem is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail("Data Protection: " + problem);
    }

    private sealed class RefusingXmlEncryptor(string problem) : IXmlEncryptor
    {
        public EncryptedXmlInfo Encrypt(XElement plaintextElement) =>
            throw new InvalidOperationException("Data Protection: refusing to store a key unencrypted: " + problem);
    }
}
