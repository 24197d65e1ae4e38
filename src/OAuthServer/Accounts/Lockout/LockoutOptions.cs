using Microsoft.Extensions.Options;

namespace OAuthServer.Accounts;

/// <summary>
/// The <c>Lockout</c> section. After <see cref="MaxFailures"/> consecutive failures an account is locked for
/// <see cref="BaseDuration"/>; each further lockout doubles that, up to <see cref="MaxDuration"/>. A browser
/// holding a device cookie (<see cref="DeviceCookieLifetime"/>) has a budget of its own with the same numbers.
/// </summary>
internal sealed class LockoutOptions
{
    public const string Section = "Lockout";

    public int MaxFailures { get; set; } = 5;

    public TimeSpan BaseDuration { get; set; } = TimeSpan.FromMinutes(1);

    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a browser stays trusted for a user after its last successful sign-in.</summary>
    public TimeSpan DeviceCookieLifetime { get; set; } = TimeSpan.FromDays(90);

    /// <summary>The lock that follows <paramref name="previousLockouts"/> earlier ones: base × 2^n, capped.</summary>
    public TimeSpan DurationAfter(int previousLockouts)
    {
        var factor = Math.Pow(2, Math.Min(previousLockouts, 30));
        var ticks = Math.Min(BaseDuration.Ticks * factor, MaxDuration.Ticks);
        return TimeSpan.FromTicks((long)ticks);
    }
}

internal sealed class LockoutOptionsValidator : IValidateOptions<LockoutOptions>
{
    public ValidateOptionsResult Validate(string? name, LockoutOptions options)
    {
        var failures = new List<string>();
        if (options.MaxFailures is < 1 or > 1000)
        {
            failures.Add("Lockout:MaxFailures must be between 1 and 1000.");
        }

        if (options.BaseDuration <= TimeSpan.Zero)
        {
            failures.Add("Lockout:BaseDuration must be positive.");
        }

        if (options.MaxDuration < options.BaseDuration)
        {
            failures.Add("Lockout:MaxDuration must be at least Lockout:BaseDuration.");
        }

        if (options.DeviceCookieLifetime <= TimeSpan.Zero)
        {
            failures.Add("Lockout:DeviceCookieLifetime must be positive.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
