using Microsoft.Extensions.Options;

namespace OAuthServer.Admin;

/// <summary>The privileged scopes of our own APIs and the resource (audience) their tokens are issued for.</summary>
internal static class AdminScopes
{
    public const string Admin = "oauth.admin";

    /// <summary>RFC 7591's initial access token: a bearer token with this scope may register clients.</summary>
    public const string Register = "oauth.register";

    /// <summary>The <c>aud</c> of tokens for the admin API and the registration endpoint.</summary>
    public const string Audience = "oauthserver";

    public const string AdminPolicy = "oauth.admin";

    public const string RegisterPolicy = "oauth.register";

    /// <summary>
    /// Scopes that grant power over this server: never open to RFC 7591 registration. oauth.register is for machine
    /// clients only; oauth.admin for machine clients, and for the people the database names administrators through
    /// a client registered with it (<see cref="ClientRules"/>, the authorization endpoint and the admin API's step-up check).
    /// </summary>
    public static bool IsPrivileged(string scope) => scope is Admin or Register;
}

internal sealed class AdminOptions
{
    public const string Section = "Admin";

    public const string BootstrapClientId = "admin-cli";

    /// <summary>The secret of the bootstrap client <c>admin-cli</c>; prefer <see cref="BootstrapClientSecretFile"/>.</summary>
    public string? BootstrapClientSecret { get; set; }

    /// <summary>A file (a mounted secret) holding the bootstrap client's secret.</summary>
    public string? BootstrapClientSecretFile { get; set; }

    /// <summary>RFC 7591 dynamic client registration at <c>/connect/register</c>; off unless enabled.</summary>
    public bool DynamicRegistrationEnabled { get; set; }

    /// <summary>
    /// The API scopes a dynamically registered client may ask for (besides openid, profile, email and
    /// offline_access); each still needs the user's consent. Empty by default: API access is granted through the
    /// admin API.
    /// </summary>
    public List<string> DynamicRegistrationScopes { get; set; } = [];

    /// <summary>
    /// How long after a person's last sign-in (auth_time) their token may use the admin API, which also wants that
    /// sign-in to have reached acr mfa (RFC 9470). A machine token (admin-cli) is not a person's and is not limited.
    /// </summary>
    public TimeSpan StepUpMaxAge { get; set; } = TimeSpan.FromMinutes(15);

    public string? ResolveBootstrapSecret() =>
        !string.IsNullOrEmpty(BootstrapClientSecretFile) ? File.ReadAllText(BootstrapClientSecretFile).Trim() : BootstrapClientSecret;
}

internal sealed class AdminOptionsValidator : IValidateOptions<AdminOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminOptions options)
    {
        if (!string.IsNullOrEmpty(options.BootstrapClientSecret) && !string.IsNullOrEmpty(options.BootstrapClientSecretFile))
        {
            return ValidateOptionsResult.Fail("Set Admin:BootstrapClientSecret or Admin:BootstrapClientSecretFile, not both.");
        }

        if (!string.IsNullOrEmpty(options.BootstrapClientSecretFile) && !File.Exists(options.BootstrapClientSecretFile))
        {
            return ValidateOptionsResult.Fail($"Admin:BootstrapClientSecretFile '{options.BootstrapClientSecretFile}' does not exist.");
        }

        // Note: the admin secret guards everything; it must be as strong as a server-generated one (256 bits).
        if (options.ResolveBootstrapSecret() is { Length: < 32 })
        {
            return ValidateOptionsResult.Fail("The admin bootstrap client secret must be at least 32 characters (256 bits of randomness).");
        }

        // Note: threat model 3.1: registration never hands out power over this server.
        if (options.DynamicRegistrationScopes.FirstOrDefault(scope => AdminScopes.IsPrivileged(scope) || !ClientRules.IsScopeToken(scope)) is { } bad)
        {
            return ValidateOptionsResult.Fail($"Admin:DynamicRegistrationScopes can't hold '{bad}': list API scopes (RFC 6749 §3.3 scope tokens), never oauth.admin or oauth.register.");
        }

        // Note: a step-up that lasts longer than a browser session is no step-up; zero would refuse every person.
        if (options.StepUpMaxAge < TimeSpan.FromSeconds(30) || options.StepUpMaxAge > TimeSpan.FromHours(8))
        {
            return ValidateOptionsResult.Fail($"Admin:StepUpMaxAge must be between 00:00:30 and 08:00:00; it is {options.StepUpMaxAge}.");
        }

        return ValidateOptionsResult.Success;
    }
}
