using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace OAuthServer.Accounts;

internal enum PasswordCheck
{
    Failed,
    Succeeded,

    /// <summary>The password is right, but the hash predates today's parameters or pepper: re-hash it.</summary>
    SucceededRehashNeeded,
}

/// <summary>Hashes and verifies passwords. The one place that knows the algorithm.</summary>
internal interface IPasswordHasher
{
    Task<string> HashAsync(string password, CancellationToken cancellationToken = default);

    Task<PasswordCheck> VerifyAsync(string storedHash, string password, CancellationToken cancellationToken = default);

    /// <summary>
    /// Spends the same work as a real verification and always fails. Used for unknown users so that neither
    /// the answer nor the work done reveals whether an account exists (threat model 4.2).
    /// </summary>
    Task VerifyDummyAsync(string password, CancellationToken cancellationToken = default);

    /// <summary>Makes the dummy hash that <see cref="VerifyDummyAsync"/> verifies against, if not made yet.</summary>
    Task PrepareDummyAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// Argon2id with a unique 16-byte CSPRNG salt per hash and an optional, versioned pepper (Argon2's secret
/// input). The stored form is a PHC string whose parameter list also names the pepper version:
/// <c>$argon2id$v=19$m=19456,t=2,p=1,pv=1$salt$hash</c> (no <c>pv</c>: no pepper).
/// Every operation runs inside the <see cref="PasswordHashLimiter"/>, and takes its block memory from a pool with
/// one buffer per limiter slot (<see cref="Argon2MemoryPool"/>), so a hash neither allocates nor leaves its memory
/// to the garbage collector.
/// </summary>
internal sealed class Argon2PasswordHasher : IPasswordHasher
{
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    private readonly Argon2Options _options;
    private readonly PepperRing _peppers;
    private readonly PasswordHashLimiter _limiter;
    private readonly Argon2MemoryPool _memory;
    private string? _dummyHash;

    public Argon2PasswordHasher(IOptions<Argon2Options> options, PepperRing peppers, PasswordHashLimiter limiter)
    {
        _options = options.Value;
        _peppers = peppers;
        _limiter = limiter;
        _memory = new Argon2MemoryPool(limiter.Slots);
    }

    /// <summary>The block memory this hasher keeps between hashes (at most one buffer per limiter slot).</summary>
    internal (int Buffers, long Bytes) RetainedMemory => _memory.Retained;

    public Task<string> HashAsync(string password, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(password);
        return _limiter.RunAsync("hash", () => Compute(password), cancellationToken);
    }

    public Task<PasswordCheck> VerifyAsync(string storedHash, string password, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(password);
        return _limiter.RunAsync("verify", () => Verify(storedHash, password), cancellationToken);
    }

    public async Task VerifyDummyAsync(string password, CancellationToken cancellationToken = default)
    {
        var dummy = await DummyHashAsync(cancellationToken);
        await _limiter.RunAsync("verify", () => Verify(dummy, password ?? string.Empty) == PasswordCheck.Succeeded, cancellationToken);
    }

    public Task PrepareDummyAsync(CancellationToken cancellationToken = default) => DummyHashAsync(cancellationToken);

    // Note: the server makes the dummy hash at start-up (PasswordHasherWarmUp), so an unknown-email login costs one
    // Argon2 verification like any other failed login, not a hash and a verification. It is made inside the limiter
    // like every other Argon2 operation, so it is bounded and counted. Made with the current parameters and pepper,
    // verifying it costs exactly what a real verification does. Where nothing warmed up (the CLI verbs, unit tests)
    // the first use makes it; two racing first uses may both make one, and the first stored wins.
    private async Task<string> DummyHashAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _dummyHash) is { } made)
        {
            return made;
        }

        var dummy = await _limiter.RunAsync("hash", () => Compute(Convert.ToBase64String(RandomNumberGenerator.GetBytes(24))), cancellationToken);
        return Interlocked.CompareExchange(ref _dummyHash, dummy, null) ?? dummy;
    }

    /// <summary>
    /// The same hash, without the limiter: for <c>argon2 calibrate</c>, which measures one hash alone. The time
    /// includes taking the memory from <paramref name="memory"/> and wiping it after, as a login does; a pool that
    /// has served this cost before gives it without allocating, as the server's pool does after its first hashes.
    /// </summary>
    internal static TimeSpan Measure(Argon2MemoryPool memory, Argon2Cost cost)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        Raw(memory, cost, salt, "calibration password", null);
        return System.Diagnostics.Stopwatch.GetElapsedTime(started);
    }

    private Argon2Cost CurrentCost => new(_options.MemoryKiB, _options.Iterations, _options.Parallelism);

    private string Compute(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var raw = Raw(_memory, CurrentCost, salt, password, _peppers.Current);
        var pepperVersion = _peppers.CurrentVersion == 0 ? string.Empty : $",pv={_peppers.CurrentVersion}";
        return string.Create(CultureInfo.InvariantCulture,
            $"$argon2id$v=19$m={_options.MemoryKiB},t={_options.Iterations},p={_options.Parallelism}{pepperVersion}${B64(salt)}${B64(raw)}");
    }

    private PasswordCheck Verify(string storedHash, string password)
    {
        if (!Phc.TryParse(storedHash, out var stored))
        {
            // Note: a corrupt or foreign stored hash is a failed login, not a 500.
            return PasswordCheck.Failed;
        }

        byte[]? pepper = null;
        if (stored.PepperVersion != 0 && !_peppers.Peppers.TryGetValue(stored.PepperVersion, out pepper))
        {
            // The pepper this hash was made with is no longer configured: it can never verify.
            return PasswordCheck.Failed;
        }

        var computed = Raw(_memory, new(stored.MemoryKiB, stored.Iterations, stored.Parallelism), stored.Salt, password, pepper, stored.Hash.Length);
        if (!CryptographicOperations.FixedTimeEquals(computed, stored.Hash))
        {
            return PasswordCheck.Failed;
        }

        var current = stored.MemoryKiB >= _options.MemoryKiB
            && stored.Iterations >= _options.Iterations
            && stored.Parallelism == _options.Parallelism
            && stored.PepperVersion == _peppers.CurrentVersion;
        return current ? PasswordCheck.Succeeded : PasswordCheck.SucceededRehashNeeded;
    }

    private static byte[] Raw(Argon2MemoryPool memory, Argon2Cost cost, byte[] salt, string password, byte[]? pepper, int length = HashBytes)
    {
        // Note: NIST SP 800-63B §5.1.1.2: the password is NFKC-normalised before hashing, so the same password
        // typed on different keyboards (composed or decomposed characters) verifies. Its bytes are wiped after
        // use; the pepper, Argon2's secret input K (RFC 9106 §3.1), is the ring's and stays.
        var passwordBytes = Encoding.UTF8.GetBytes(password.Normalize(NormalizationForm.FormKC));
        try
        {
            var hash = new byte[length];
            using var lease = memory.Rent(cost);
            Argon2id.Hash(cost, passwordBytes, salt, pepper, [], hash, lease.Memory);
            return hash;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passwordBytes);
        }
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=');

    private readonly record struct Phc(int MemoryKiB, int Iterations, int Parallelism, int PepperVersion, byte[] Salt, byte[] Hash)
    {
        public static bool TryParse(string? value, out Phc phc)
        {
            phc = default;
            var parts = value?.Split('$');
            if (parts is not [_, "argon2id", "v=19", var parameters, var salt, var hash])
            {
                return false;
            }

            var settings = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var pair in parameters.Split(','))
            {
                var split = pair.Split('=', 2);
                if (split.Length != 2 || !int.TryParse(split[1], NumberStyles.None, CultureInfo.InvariantCulture, out var number) || !settings.TryAdd(split[0], number))
                {
                    return false;
                }
            }

            // Note: RFC 9106 §3.1's bounds (m at least 8 blocks per lane) within what this server would ever make.
            if (!settings.TryGetValue("m", out var m) || !settings.TryGetValue("t", out var t) || !settings.TryGetValue("p", out var p)
                || m is < 8 or > 4 * 1024 * 1024 || t is < 1 or > 64 || p is < 1 or > 16 || m < 8 * p
                || !TryB64(salt, out var saltBytes) || saltBytes.Length < 8 || !TryB64(hash, out var hashBytes) || hashBytes.Length < 16)
            {
                return false;
            }

            phc = new(m, t, p, settings.GetValueOrDefault("pv"), saltBytes, hashBytes);
            return true;
        }

        private static bool TryB64(string text, out byte[] bytes)
        {
            var padded = text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '=');
            bytes = new byte[padded.Length];
            if (Convert.TryFromBase64String(padded, bytes, out var written))
            {
                bytes = bytes[..written];
                return true;
            }

            return false;
        }
    }
}

/// <summary>
/// Makes the dummy hash before the server takes requests (one Argon2 hash at the configured cost, typically
/// 50 to 500 ms of start-up), so that no login ever pays for it.
/// </summary>
internal sealed class PasswordHasherWarmUp(IPasswordHasher hasher) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => hasher.PrepareDummyAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
