using Microsoft.Extensions.Options;

namespace OAuthServer.Accounts.Recovery;

/// <summary>The <c>PasswordReset</c> section.</summary>
internal sealed class PasswordResetOptions
{
    public const string Section = "PasswordReset";

    /// <summary>How long a reset link works after it was sent. Short: the link is a credential sitting in a mailbox.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Reset requests waiting for the mailer. A full queue drops the request (logged) and the page answers as
    /// always: a flood must not turn into memory, and the answer must not depend on it.
    /// </summary>
    public int QueueCapacity { get; set; } = 1_000;
}

internal sealed class PasswordResetOptionsValidator : IValidateOptions<PasswordResetOptions>
{
    public ValidateOptionsResult Validate(string? name, PasswordResetOptions options)
    {
        var failures = new List<string>();
        if (options.TokenLifetime < TimeSpan.FromMinutes(1) || options.TokenLifetime > TimeSpan.FromHours(24))
        {
            failures.Add("PasswordReset:TokenLifetime must be between 00:01:00 and 1.00:00:00.");
        }

        if (options.QueueCapacity is < 1 or > 1_000_000)
        {
            failures.Add("PasswordReset:QueueCapacity must be between 1 and 1000000.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
