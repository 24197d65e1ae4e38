using Microsoft.Extensions.Options;

namespace OAuthServer.Protocol;

/// <summary>The <c>Tokens</c> section: server-wide lifetimes. A client may set a shorter access-token lifetime.</summary>
internal sealed class TokenOptions
{
    public const string Section = "Tokens";

    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromMinutes(10);

    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(14);

    public TimeSpan IdentityTokenLifetime { get; set; } = TimeSpan.FromMinutes(20);

    /// <summary>
    /// How long after a rotation a retry of the rotated refresh token gets the same successor instead of being a
    /// replay (a client that lost the response). Zero, the default, turns it off; a client can set its own.
    /// </summary>
    public TimeSpan RefreshRetryWindow { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// How long a signing key must stay published after it stops signing. OpenIddict signs every token with
    /// it (access and identity tokens, and the codes and refresh tokens inside their encryption), so it is the
    /// longest of those lifetimes.
    /// </summary>
    public TimeSpan SigningKeyGrace => new[] { AccessTokenLifetime, IdentityTokenLifetime, RefreshTokenLifetime }.Max();
}

internal sealed class TokenOptionsValidator : IValidateOptions<TokenOptions>
{
    public ValidateOptionsResult Validate(string? name, TokenOptions options)
    {
        var failures = new List<string>();
        if (options.AccessTokenLifetime <= TimeSpan.Zero || options.AccessTokenLifetime > TimeSpan.FromHours(1))
        {
            failures.Add("Tokens:AccessTokenLifetime must be between 00:00:01 and 01:00:00 (short-lived access tokens).");
        }

        if (options.IdentityTokenLifetime <= TimeSpan.Zero || options.IdentityTokenLifetime > TimeSpan.FromHours(1))
        {
            failures.Add("Tokens:IdentityTokenLifetime must be between 00:00:01 and 01:00:00.");
        }

        if (options.RefreshTokenLifetime <= TimeSpan.Zero || options.RefreshTokenLifetime > TimeSpan.FromDays(365))
        {
            failures.Add("Tokens:RefreshTokenLifetime must be between 00:00:01 and 365.00:00:00.");
        }

        if (options.RefreshRetryWindow < TimeSpan.Zero || options.RefreshRetryWindow > TimeSpan.FromSeconds(60))
        {
            failures.Add("Tokens:RefreshRetryWindow must be between 00:00:00 (off) and 00:01:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
