using Microsoft.Extensions.Options;

namespace OAuthServer.Security;

/// <summary>One fixed-window budget: <see cref="PermitLimit"/> requests per <see cref="Window"/>.</summary>
internal sealed class RateLimitPolicyOptions
{
    public int PermitLimit { get; set; }

    public TimeSpan Window { get; set; }
}

/// <summary>
/// The <c>RateLimiting</c> section: one fixed-window budget per policy (add a policy here and to
/// <see cref="RateLimits.Policies"/>), counted in Redis when <c>Redis:Configuration</c> is set, so all nodes
/// share one budget.
/// </summary>
internal sealed class RateLimitingOptions
{
    public const string Section = "RateLimiting";

    public bool Enabled { get; set; } = true;

    /// <summary>Login form posts per client IP.</summary>
    public RateLimitPolicyOptions LoginPerIp { get; set; } = new() { PermitLimit = 30, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Login attempts per account (normalised email), whatever the IP; checked before any hashing.</summary>
    public RateLimitPolicyOptions LoginPerAccount { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(5) };

    /// <summary>
    /// Back-channel requests (token, PAR, introspection, revocation) per client address that do not authenticate a
    /// confidential client: requests without client credentials, and those whose credentials failed.
    /// </summary>
    public RateLimitPolicyOptions TokenPerIp { get; set; } = new() { PermitLimit = 120, Window = TimeSpan.FromMinutes(1) };

    /// <summary>
    /// Back-channel requests that authenticated a confidential client, per client_id from all addresses. Only
    /// the holder of the secret can spend it, so it is generous: a resource server introspecting, a
    /// backend-for-frontend refreshing for many users.
    /// </summary>
    public RateLimitPolicyOptions TokenPerClient { get; set; } = new() { PermitLimit = 1200, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Authorization endpoint requests per client IP.</summary>
    public RateLimitPolicyOptions AuthorizePerIp { get; set; } = new() { PermitLimit = 60, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Failed client authentications per client_id and client IP at the token, PAR, introspection and revocation endpoints.</summary>
    public RateLimitPolicyOptions ClientAuthFailures { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(5) };

    /// <summary>
    /// Failed client authentications per client_id from all addresses together: the ceiling for a distributed
    /// guesser. Once spent, an address that has failed for that client_id in its window gets no further attempt
    /// for it; an address that has not (the real client) is never refused by it.
    /// </summary>
    public RateLimitPolicyOptions ClientAuthFailuresPerClient { get; set; } = new() { PermitLimit = 100, Window = TimeSpan.FromMinutes(5) };

    /// <summary>
    /// Wrong user codes (RFC 8628 §5.1) per client address at the verification page; a code that turns out valid
    /// gives its permit back. Keyed by the sender's address only, so a stranger's guesses never spend anyone else's.
    /// </summary>
    public RateLimitPolicyOptions UserCodePerIp { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(10) };

    /// <summary>
    /// Device-code polls (RFC 8628 §3.5) per device code: one per window, or <c>slow_down</c>. The interval the
    /// device endpoint tells clients is this window plus one second, so a client that waits as told is never refused.
    /// </summary>
    public RateLimitPolicyOptions DevicePolling { get; set; } = new() { PermitLimit = 1, Window = TimeSpan.FromSeconds(4) };

    /// <summary>Forgot-password posts per client address, whatever the address typed.</summary>
    public RateLimitPolicyOptions ForgotPasswordPerIp { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(15) };

    /// <summary>
    /// Forgot-password posts per typed address (normalised), from all senders: the most reset mail one mailbox can
    /// be sent. Spending it (anyone can) delays the owner's reset, never their sign-in.
    /// </summary>
    public RateLimitPolicyOptions ForgotPasswordPerAddress { get; set; } = new() { PermitLimit = 3, Window = TimeSpan.FromHours(1) };

    /// <summary>Reset-link posts (new password) per client address.</summary>
    public RateLimitPolicyOptions ResetPasswordPerIp { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(15) };
    /// <summary>Account-page posts (password, apps, sessions) per client IP.</summary>
    public RateLimitPolicyOptions AccountPerIp { get; set; } = new() { PermitLimit = 30, Window = TimeSpan.FromMinutes(1) };

    /// <summary>
    /// Password changes per signed-in user, whatever the IP: each runs two Argon2 hashes. Keyed by the session's
    /// user, so only the holder of a session can spend it (a wrong current password also spends the account's
    /// lockout budget, like a wrong sign-in).
    /// </summary>
    public RateLimitPolicyOptions PasswordChangePerUser { get; set; } = new() { PermitLimit = 5, Window = TimeSpan.FromMinutes(15) };

    /// <summary>
    /// IPv6 clients are counted per network of this prefix length (a /64 is one subscriber's, and holds more
    /// addresses than any budget); IPv4 clients per address.
    /// </summary>
    public int IPv6PrefixLength { get; set; } = 64;

    /// <summary>The prefix of the Redis keys, so several deployments can share one Redis.</summary>
    public string RedisKeyPrefix { get; set; } = "oauthserver";
}

internal sealed class RedisOptions
{
    public const string Section = "Redis";

    /// <summary>A StackExchange.Redis configuration string, e.g. <c>redis:6379</c>. Unset: counters are per node.</summary>
    public string? Configuration { get; set; }
}

internal sealed class RateLimitingOptionsValidator : IValidateOptions<RateLimitingOptions>
{
    public ValidateOptionsResult Validate(string? name, RateLimitingOptions options)
    {
        var failures = new List<string>();
        foreach (var (key, policy) in RateLimits.Policies(options))
        {
            if (policy.PermitLimit < 1 || policy.Window <= TimeSpan.Zero)
            {
                failures.Add($"RateLimiting:{key} needs a PermitLimit of at least 1 and a positive Window.");
            }
        }

        if (options.IPv6PrefixLength is < 1 or > 128)
        {
            failures.Add("RateLimiting:IPv6PrefixLength must be between 1 and 128.");
        }

        if (string.IsNullOrWhiteSpace(options.RedisKeyPrefix))
        {
            failures.Add("RateLimiting:RedisKeyPrefix must not be empty.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
