using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace OAuthServer.Accounts;

/// <summary>
/// The <c>Argon2</c> section: the cost of one hash and the pepper. The defaults are OWASP's minimum for
/// Argon2id (19 MiB, t=2, p=1); <c>argon2 calibrate</c> finds stronger values for a given machine. The
/// concurrency settings of the same section are <see cref="Security.HashLimiterOptions"/>.
/// </summary>
internal sealed class Argon2Options
{
    public const string Section = "Argon2";
    public const int MinimumMemoryKiB = 19 * 1024;

    [Range(MinimumMemoryKiB, 4 * 1024 * 1024)]
    public int MemoryKiB { get; set; } = MinimumMemoryKiB;

    [Range(2, 64)]
    public int Iterations { get; set; } = 2;

    [Range(1, 16)]
    public int Parallelism { get; set; } = 1;

    /// <summary>The current pepper, from an environment variable or secret manager. Optional.</summary>
    public string? Pepper { get; set; }

    /// <summary>A file holding the current pepper (a mounted secret), instead of <see cref="Pepper"/>.</summary>
    public string? PepperFile { get; set; }

    /// <summary>The version stamped into new hashes; bump it when the pepper changes.</summary>
    [Range(1, 1_000_000)]
    public int PepperVersion { get; set; } = 1;

    /// <summary>
    /// Peppers of earlier versions, by version number, kept only to verify hashes made with them; each such
    /// hash is re-made with the current pepper at its next successful login.
    /// </summary>
    public Dictionary<int, string> PreviousPeppers { get; set; } = [];

    /// <summary>Like <see cref="PreviousPeppers"/>, but each value is a file path.</summary>
    public Dictionary<int, string> PreviousPepperFiles { get; set; } = [];
}

/// <summary>Rules across fields: one pepper source, readable files, long enough peppers, distinct versions.</summary>
internal sealed class Argon2OptionsValidator : IValidateOptions<Argon2Options>
{
    public ValidateOptionsResult Validate(string? name, Argon2Options options)
    {
        var failures = new List<string>();
        if (!string.IsNullOrEmpty(options.Pepper) && !string.IsNullOrEmpty(options.PepperFile))
        {
            failures.Add("Argon2:Pepper and Argon2:PepperFile are both set: use one.");
        }

        CheckPepper(failures, "Argon2:Pepper/PepperFile", options.Pepper, options.PepperFile);
        foreach (var (version, value) in options.PreviousPeppers)
        {
            CheckPepper(failures, $"Argon2:PreviousPeppers:{version}", value, null);
        }

        foreach (var (version, file) in options.PreviousPepperFiles)
        {
            CheckPepper(failures, $"Argon2:PreviousPepperFiles:{version}", null, file);
        }

        var hasCurrent = !string.IsNullOrEmpty(options.Pepper) || !string.IsNullOrEmpty(options.PepperFile);
        if (hasCurrent && (options.PreviousPeppers.ContainsKey(options.PepperVersion) || options.PreviousPepperFiles.ContainsKey(options.PepperVersion)))
        {
            failures.Add($"Argon2:PepperVersion {options.PepperVersion} is also listed as a previous pepper: give the new pepper a new version.");
        }

        if (options.PreviousPeppers.Keys.Concat(options.PreviousPepperFiles.Keys).Any(version => version <= 0))
        {
            failures.Add("Argon2:PreviousPeppers versions must be positive numbers.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckPepper(List<string> failures, string key, string? value, string? file)
    {
        byte[]? pepper;
        try
        {
            pepper = PepperRing.Read(value, file);
        }
        catch (IOException exception)
        {
            failures.Add($"{key}: the pepper file can't be read ({exception.Message}).");
            return;
        }
        catch (UnauthorizedAccessException)
        {
            failures.Add($"{key}: the pepper file can't be read (permission denied).");
            return;
        }

        if (pepper is not null && pepper.Length < PepperRing.MinimumPepperBytes)
        {
            failures.Add($"{key} must be at least {PepperRing.MinimumPepperBytes} bytes long.");
        }
    }
}
