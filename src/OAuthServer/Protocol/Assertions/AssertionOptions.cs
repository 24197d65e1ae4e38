using Microsoft.Extensions.Options;

namespace OAuthServer.Protocol.Assertions;

/// <summary>The <c>ClientAssertions</c> section: how private_key_jwt assertions and their jwks_uri are judged.</summary>
internal sealed class AssertionOptions
{
    public const string Section = "ClientAssertions";

    /// <summary>
    /// The furthest ahead an assertion's <c>exp</c> may be. Note: RFC 7523 §3 lets the server bound it; a short
    /// bound keeps a stolen assertion short-lived and the ledger of spent <c>jti</c>s small.
    /// </summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The clock difference tolerated between client and server on <c>exp</c>, <c>nbf</c> and <c>iat</c>.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one jwks_uri fetch may take, connection included.</summary>
    public TimeSpan JwksUriTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The largest jwks_uri response read; a larger one is refused.</summary>
    public int JwksUriMaxBytes { get; set; } = 64 * 1024;

    /// <summary>How long fetched keys are used before the jwks_uri is read again.</summary>
    public TimeSpan JwksUriCacheLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The shortest time between two fetches of one client's jwks_uri. Note: an unknown kid triggers a refetch (the
    /// client rotated its key), so without this floor anyone could make the server hammer the client's URI.
    /// </summary>
    public TimeSpan JwksUriMinRefetchInterval { get; set; } = TimeSpan.FromSeconds(30);
}

internal sealed class AssertionOptionsValidator : IValidateOptions<AssertionOptions>
{
    public ValidateOptionsResult Validate(string? name, AssertionOptions options)
    {
        var failures = new List<string>();
        if (options.MaxLifetime < TimeSpan.FromSeconds(10) || options.MaxLifetime > TimeSpan.FromHours(1))
        {
            failures.Add("ClientAssertions:MaxLifetime must be between 00:00:10 and 01:00:00.");
        }

        if (options.ClockSkew < TimeSpan.Zero || options.ClockSkew > TimeSpan.FromMinutes(5))
        {
            failures.Add("ClientAssertions:ClockSkew must be between 00:00:00 and 00:05:00.");
        }

        if (options.JwksUriTimeout <= TimeSpan.Zero || options.JwksUriTimeout > TimeSpan.FromSeconds(30))
        {
            failures.Add("ClientAssertions:JwksUriTimeout must be between 00:00:01 and 00:00:30.");
        }

        if (options.JwksUriMaxBytes is < 1024 or > 1024 * 1024)
        {
            failures.Add("ClientAssertions:JwksUriMaxBytes must be between 1024 and 1048576.");
        }

        if (options.JwksUriCacheLifetime <= TimeSpan.Zero || options.JwksUriCacheLifetime > TimeSpan.FromDays(1))
        {
            failures.Add("ClientAssertions:JwksUriCacheLifetime must be between 00:00:01 and 1.00:00:00.");
        }

        if (options.JwksUriMinRefetchInterval <= TimeSpan.Zero || options.JwksUriMinRefetchInterval > options.JwksUriCacheLifetime)
        {
            failures.Add("ClientAssertions:JwksUriMinRefetchInterval must be positive and at most JwksUriCacheLifetime.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
