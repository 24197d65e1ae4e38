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

    /// <summary>Scopes that grant power over this server: machine clients only, never user sign-ins.</summary>
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

        return ValidateOptionsResult.Success;
    }
}
