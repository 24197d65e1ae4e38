using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using OAuthServer.Data;

namespace OAuthServer.Accounts.Factors;

/// <summary>
/// The key settings of the <c>SecondFactors</c> section: the key that seals TOTP secrets and keys the recovery-code
/// hashes. It must not live in the database (threat model "DB compromise": a dump alone must yield no secret and no
/// code), so it is not a Data Protection key, whose ring is stored there.
/// </summary>
internal sealed class FactorSecretOptions
{
    /// <summary>The current key: 32 bytes, base64 (an environment variable or a secret manager).</summary>
    public string? SecretKey { get; set; }

    /// <summary>A file holding the current key (base64), instead of <see cref="SecretKey"/>.</summary>
    public string? SecretKeyFile { get; set; }

    /// <summary>The id stored with each secret sealed by the current key (<see cref="TotpAuthenticator.KeyId"/>).</summary>
    public string SecretKeyId { get; set; } = "1";

    /// <summary>Earlier keys by id (base64), kept to open secrets and match recovery codes made with them.</summary>
    public Dictionary<string, string> PreviousSecretKeys { get; set; } = [];

    /// <summary>Like <see cref="PreviousSecretKeys"/>, but each value is a file path.</summary>
    public Dictionary<string, string> PreviousSecretKeyFiles { get; set; } = [];
}

/// <summary>One key source, readable 32-byte keys, distinct ids; a required factor needs a key outside Development.</summary>
internal sealed class FactorSecretOptionsValidator(IHostEnvironment environment, IOptions<SecondFactorOptions> policy) : IValidateOptions<FactorSecretOptions>
{
    public ValidateOptionsResult Validate(string? name, FactorSecretOptions options)
    {
        var failures = new List<string>();
        var hasCurrent = !string.IsNullOrEmpty(options.SecretKey) || !string.IsNullOrEmpty(options.SecretKeyFile);
        if (!string.IsNullOrEmpty(options.SecretKey) && !string.IsNullOrEmpty(options.SecretKeyFile))
        {
            failures.Add("SecondFactors:SecretKey and SecondFactors:SecretKeyFile are both set: use one.");
        }

        if (string.IsNullOrWhiteSpace(options.SecretKeyId) || options.SecretKeyId.Length > 32 || options.SecretKeyId.Any(character => !char.IsAsciiLetterOrDigit(character) && character is not '-' and not '_'))
        {
            failures.Add("SecondFactors:SecretKeyId must be 1 to 32 letters, digits, '-' or '_'.");
        }

        Check(failures, "SecondFactors:SecretKey/SecretKeyFile", options.SecretKey, options.SecretKeyFile);
        foreach (var (id, value) in options.PreviousSecretKeys)
        {
            Check(failures, $"SecondFactors:PreviousSecretKeys:{id}", value, null);
        }

        foreach (var (id, file) in options.PreviousSecretKeyFiles)
        {
            Check(failures, $"SecondFactors:PreviousSecretKeyFiles:{id}", null, file);
        }

        if (hasCurrent && (options.PreviousSecretKeys.ContainsKey(options.SecretKeyId) || options.PreviousSecretKeyFiles.ContainsKey(options.SecretKeyId)))
        {
            failures.Add($"SecondFactors:SecretKeyId {options.SecretKeyId} is also listed as a previous key: give the new key a new id.");
        }

        // Note: without a key there is no TOTP and no recovery code; a policy that requires a second factor would then
        // lock everyone without a passkey out, so that is a start-up failure rather than a warning.
        if (!hasCurrent && !environment.IsDevelopment() && policy.Value.Require != SecondFactorRequirement.None)
        {
            failures.Add("SecondFactors:Require is set but no SecondFactors:SecretKey or SecondFactors:SecretKeyFile is: set a 32-byte base64 key (for example `openssl rand -base64 32`).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Check(List<string> failures, string key, string? value, string? file)
    {
        try
        {
            if (FactorSecrets.Read(value, file) is { Length: not FactorSecrets.KeyBytes })
            {
                failures.Add($"{key} must be {FactorSecrets.KeyBytes} bytes, base64-encoded.");
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException)
        {
            failures.Add($"{key} can't be read as a base64 key: {exception.GetType().Name}.");
        }
    }
}

/// <summary>
/// The key ring of the second factors: seals and opens TOTP secrets (AES-256-GCM, bound to their row) and derives
/// the recovery-code hash keys (HKDF). Read once at start-up; <see cref="Available"/> is false when no key is set
/// outside Development, and then neither TOTP nor recovery codes are offered.
/// </summary>
internal sealed partial class FactorSecrets
{
    public const int KeyBytes = 32;
    public const string DevelopmentKeyFileName = "second-factor-secret.key";
    private const int NonceBytes = 12;
    private const int TagBytes = 16;

    private static readonly byte[] RecoveryCodeInfo = Encoding.UTF8.GetBytes("OAuthServer.Accounts.RecoveryCodes.v1");
    private static readonly byte[] TotpInfo = Encoding.UTF8.GetBytes("OAuthServer.Accounts.TotpSecret.v1");

    private readonly Dictionary<string, byte[]> _keys = new(StringComparer.Ordinal);

    public FactorSecrets(IOptions<FactorSecretOptions> options, IHostEnvironment environment, IServiceProvider services, ILogger<FactorSecrets> logger)
    {
        var settings = options.Value;
        var current = Read(settings.SecretKey, settings.SecretKeyFile);
        if (current is null && environment.IsDevelopment())
        {
            current = DevelopmentKey(Path.GetDirectoryName(Keys.KeysServiceCollectionExtensions.ResolvePath(services))!);
        }

        foreach (var (id, value) in settings.PreviousSecretKeys)
        {
            _keys.TryAdd(id, Read(value, null)!);
        }

        foreach (var (id, file) in settings.PreviousSecretKeyFiles)
        {
            _keys.TryAdd(id, Read(null, file)!);
        }

        if (current is null)
        {
            LogNoKey(logger);
            return;
        }

        CurrentKeyId = settings.SecretKeyId;
        _keys[CurrentKeyId] = current;
    }

    /// <summary>True when a current key is set: TOTP and recovery codes are offered.</summary>
    public bool Available => CurrentKeyId is not null;

    public string? CurrentKeyId { get; }

    /// <summary>Seals a TOTP secret for <paramref name="userId"/> with the current key: nonce, ciphertext and tag.</summary>
    public byte[] Seal(Guid userId, byte[] secret)
    {
        var keyId = CurrentKeyId ?? throw new InvalidOperationException("No second-factor key is configured.");
        var sealedSecret = new byte[NonceBytes + secret.Length + TagBytes];
        var nonce = sealedSecret.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(SubKey(keyId, TotpInfo), TagBytes);
        aes.Encrypt(nonce, secret, sealedSecret.AsSpan(NonceBytes, secret.Length), sealedSecret.AsSpan(NonceBytes + secret.Length), Associated(userId, keyId));
        return sealedSecret;
    }

    /// <summary>Opens a sealed secret; null when its key is unknown or the bytes were altered or moved to another row.</summary>
    public byte[]? Open(Guid userId, string keyId, byte[] sealedSecret)
    {
        if (!_keys.ContainsKey(keyId) || sealedSecret.Length <= NonceBytes + TagBytes)
        {
            return null;
        }

        var length = sealedSecret.Length - NonceBytes - TagBytes;
        var secret = new byte[length];
        try
        {
            using var aes = new AesGcm(SubKey(keyId, TotpInfo), TagBytes);
            aes.Decrypt(sealedSecret.AsSpan(0, NonceBytes), sealedSecret.AsSpan(NonceBytes, length), sealedSecret.AsSpan(NonceBytes + length), secret, Associated(userId, keyId));
            return secret;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }

    /// <summary>The recovery-code hash of <paramref name="normalizedCode"/> under the current key.</summary>
    public byte[] HashRecoveryCode(Guid userId, string normalizedCode) =>
        HashRecoveryCode(CurrentKeyId ?? throw new InvalidOperationException("No second-factor key is configured."), userId, normalizedCode);

    /// <summary>The hashes of <paramref name="normalizedCode"/> under every known key (codes made before a rotation still match).</summary>
    public IReadOnlyList<byte[]> RecoveryCodeCandidates(Guid userId, string normalizedCode) =>
        [.. _keys.Keys.Select(keyId => HashRecoveryCode(keyId, userId, normalizedCode))];

    private byte[] HashRecoveryCode(string keyId, Guid userId, string normalizedCode) =>
        HMACSHA256.HashData(SubKey(keyId, RecoveryCodeInfo), Encoding.UTF8.GetBytes(userId.ToString("N") + ":" + normalizedCode));

    // Note: one configured key, two purposes; HKDF (RFC 5869) gives each its own key, so a sealed secret and a code
    // hash never share a key.
    private byte[] SubKey(string keyId, byte[] info) => HKDF.Expand(HashAlgorithmName.SHA256, _keys[keyId], KeyBytes, info);

    // Note: the ciphertext is bound to its user and key id (GCM associated data): a secret copied onto another
    // user's row in the database doesn't open.
    private static byte[] Associated(Guid userId, string keyId) => Encoding.UTF8.GetBytes(userId.ToString("N") + "|" + keyId);

    internal static byte[]? Read(string? value, string? file)
    {
        if (!string.IsNullOrEmpty(file))
        {
            return Convert.FromBase64String(File.ReadAllText(file).Trim());
        }

        return string.IsNullOrEmpty(value) ? null : Convert.FromBase64String(value.Trim());
    }

    // Development only: a key made once beside the data, readable by its owner only, so a developer's TOTP
    // enrolments survive a restart without configuring anything.
    private static byte[] DevelopmentKey(string folder)
    {
        OwnerOnlyFiles.CreateDirectory(folder);
        var file = Path.Combine(folder, DevelopmentKeyFileName);
        OwnerOnlyFiles.EnsureFile(file);
        var existing = File.ReadAllText(file).Trim();
        if (existing.Length > 0)
        {
            return Convert.FromBase64String(existing);
        }

        var key = RandomNumberGenerator.GetBytes(KeyBytes);
        File.WriteAllText(file, Convert.ToBase64String(key));
        return key;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "No SecondFactors:SecretKey or SecondFactors:SecretKeyFile is set: TOTP and recovery codes are not offered")]
    private static partial void LogNoKey(ILogger logger);
}

/// <summary>Reads the key ring at start-up, so a missing key is logged (and a Development key made) before the first request.</summary>
internal sealed class FactorSecretsWarmUp(FactorSecrets secrets) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.FromResult(secrets.Available);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
