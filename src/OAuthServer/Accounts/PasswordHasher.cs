using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Isopoh.Cryptography.Argon2;
using Microsoft.Extensions.Options;

namespace OAuthServer.Accounts;

internal enum PasswordCheck
{
    Failed,
    Succeeded,

    /// <summary>The password is right, but the hash was made with weaker parameters than today's: re-hash it.</summary>
    SucceededRehashNeeded,
}

/// <summary>Hashes and verifies passwords. The one place that knows the algorithm.</summary>
internal interface IPasswordHasher
{
    string Hash(string password);

    PasswordCheck Verify(string storedHash, string password);

    /// <summary>
    /// Spends the same work as a real verification and always fails. Used for unknown users so that the
    /// response time does not reveal whether an account exists.
    /// </summary>
    void VerifyDummy(string password);
}

/// <summary>Argon2id with a unique 16-byte CSPRNG salt per hash, stored as a PHC string.</summary>
internal sealed class Argon2PasswordHasher : IPasswordHasher
{
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    private readonly Argon2Options _options;
    private readonly Lazy<string> _dummyHash;

    public Argon2PasswordHasher(IOptions<Argon2Options> options)
    {
        _options = options.Value;
        _dummyHash = new(() => Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(24))));
    }

    public string Hash(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        var config = new Argon2Config
        {
            Type = Argon2Type.HybridAddressing, // Argon2id
            Version = Argon2Version.Nineteen,
            MemoryCost = _options.MemoryKiB,
            TimeCost = _options.Iterations,
            Lanes = _options.Parallelism,
            Threads = _options.Parallelism,
            HashLength = HashBytes,
            Salt = RandomNumberGenerator.GetBytes(SaltBytes),
            Password = Encoding.UTF8.GetBytes(password),
            ClearPassword = true,
        };
        return Argon2.Hash(config);
    }

    public PasswordCheck Verify(string storedHash, string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (string.IsNullOrEmpty(storedHash) || !storedHash.StartsWith("$argon2id$", StringComparison.Ordinal))
        {
            return PasswordCheck.Failed;
        }

        bool matches;
        try
        {
            matches = Argon2.Verify(storedHash, Encoding.UTF8.GetBytes(password), _options.Parallelism);
        }
        catch (Exception exception) when (exception is FormatException or ArgumentException)
        {
            // Note: a corrupt stored hash is a failed login, not a 500.
            return PasswordCheck.Failed;
        }

        if (!matches)
        {
            return PasswordCheck.Failed;
        }

        return IsCurrent(storedHash) ? PasswordCheck.Succeeded : PasswordCheck.SucceededRehashNeeded;
    }

    public void VerifyDummy(string password) => Verify(_dummyHash.Value, password ?? string.Empty);

    // The PHC string names its own parameters ($argon2id$v=19$m=..,t=..,p=..$salt$hash), so a hash made
    // under older settings can be recognised and upgraded after the next successful login.
    private bool IsCurrent(string storedHash)
    {
        var parts = storedHash.Split('$');
        if (parts.Length != 6)
        {
            return false;
        }

        var parameters = parts[3].Split(',')
            .Select(pair => pair.Split('=', 2))
            .Where(pair => pair.Length == 2)
            .ToDictionary(pair => pair[0], pair => int.TryParse(pair[1], NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : -1);

        return parts[2] == "v=19"
            && parameters.GetValueOrDefault("m") >= _options.MemoryKiB
            && parameters.GetValueOrDefault("t") >= _options.Iterations
            && parameters.GetValueOrDefault("p") == _options.Parallelism;
    }
}
