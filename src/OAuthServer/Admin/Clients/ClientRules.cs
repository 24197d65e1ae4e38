using System.Text.RegularExpressions;
using OAuthServer.Protocol;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>
/// Who is registering a client, and so which limits apply on top of the rules every client obeys. The operator
/// (admin API, CLI, bootstrap, development seed) may create any client the rules allow; RFC 7591 registration
/// creates third-party clients that sign users in, and nothing more (threat model 3.1).
/// </summary>
internal sealed record ClientPolicy
{
    /// <summary>The operator's paths: every client the rules allow; a named API scope is created if it is new.</summary>
    public static ClientPolicy Operator { get; } = new();

    /// <summary>
    /// The grant types this path may give; null: all the supported ones. Registration never gives
    /// client_credentials, a token with no user and no consent.
    /// </summary>
    public IReadOnlySet<string>? GrantTypes { get; init; }

    /// <summary>Whether this path may skip the consent page (first-party apps, which only an operator knows).</summary>
    public bool AllowsImplicitConsent { get; init; } = true;

    /// <summary>
    /// The API scopes this path may name besides the standard ones; null: any scope token, created on demand.
    /// When set, each must already exist: a registration never creates a scope, and never names a privileged one.
    /// </summary>
    public IReadOnlySet<string>? OpenScopes { get; init; }

    /// <summary>RFC 7591 registration: the code flow, explicit consent, the standard scopes and the ones the operator opened.</summary>
    public static ClientPolicy Registration(IEnumerable<string> openScopes) => new()
    {
        GrantTypes = new HashSet<string>(StringComparer.Ordinal) { OpenIddict.Abstractions.OpenIddictConstants.GrantTypes.AuthorizationCode, OpenIddict.Abstractions.OpenIddictConstants.GrantTypes.RefreshToken },
        AllowsImplicitConsent = false,
        OpenScopes = new HashSet<string>(openScopes, StringComparer.Ordinal),
    };
}

/// <summary>
/// The one set of rules a client registration must pass, whichever path it comes by (admin API, CLI, RFC 7591
/// registration, the bootstrap client, the development seed): OAuth 2.1, RFC 8252, and this server's limits.
/// Only <see cref="ClientRegistry"/> calls it, before it writes anything.
/// </summary>
internal static partial class ClientRules
{
    public const int MaxDisplayNameLength = 100;
    public const int MaxUris = 20;
    public const int MaxScopes = 50;

    /// <summary>The longest logo_uri or client_uri accepted: they are shown on pages and stored with the client.</summary>
    public const int MaxPresentationUriLength = 512;

    // Note: OAuth 2.1 removed the implicit and password grants; nothing else is served.
    private static readonly HashSet<string> SupportedGrantTypes =
        new(StringComparer.Ordinal) { GrantTypes.AuthorizationCode, GrantTypes.RefreshToken, GrantTypes.ClientCredentials, GrantTypes.DeviceCode };

    public static bool IsScopeToken(string scope) => ScopePattern().IsMatch(scope);

    /// <summary>
    /// The grant types a registration asks for: the ones it names, or by default the code flow (with refresh
    /// tokens) when it has redirect URIs; plus client_credentials when <see cref="ClientRegistration.AllowClientCredentials"/>.
    /// </summary>
    public static IReadOnlyList<string> GrantTypesOf(ClientRegistration registration)
    {
        IEnumerable<string> named = registration.GrantTypes
            ?? (registration.RedirectUris.Count > 0 ? [GrantTypes.AuthorizationCode, GrantTypes.RefreshToken] : []);
        return [.. named.Concat(registration.AllowClientCredentials ? [GrantTypes.ClientCredentials] : [])
            .Concat(registration.AllowDeviceCode ? [GrantTypes.DeviceCode, GrantTypes.RefreshToken] : []).Distinct(StringComparer.Ordinal)];
    }

    public static bool AllowsDeviceCode(ClientRegistration registration) => GrantTypesOf(registration).Contains(GrantTypes.DeviceCode);

    public static bool AllowsClientCredentials(ClientRegistration registration) => GrantTypesOf(registration).Contains(GrantTypes.ClientCredentials);

    /// <summary>
    /// Every rule <paramref name="registration"/> breaks, each with the request field it is about; the path's own
    /// limits (<paramref name="policy"/>) first, as they are the reason a request was turned away. An update
    /// keeps the stored secret, so it passes <paramref name="requireSecret"/> false.
    /// </summary>
    public static IReadOnlyList<Problem> Check(ClientRegistration registration, ClientPolicy? policy = null, bool requireSecret = true)
    {
        // Note: JSON may put null into any list; every other rule reads the entries, so an empty slot is refused
        // first (a 400 that names it, never a crash).
        if (NullEntries(registration) is { Count: > 0 } holes)
        {
            return holes;
        }

        var problems = new List<Problem>();
        CheckPolicy(registration, policy ?? ClientPolicy.Operator, problems);
        CheckIdentity(registration, problems);
        CheckSecret(registration, requireSecret, problems);
        CheckKeys(registration, problems);
        CheckGrants(registration, problems);
        CheckUris(registration, problems);
        CheckScopes(registration, problems);
        CheckPresentation(registration, development: true, problems);
        if (registration.AccessTokenLifetime is { } lifetime && (lifetime <= TimeSpan.Zero || lifetime > TimeSpan.FromHours(1)))
        {
            problems.Add(Problem.Invalid("access_token_lifetime", "access_token_lifetime must be between 1 second and 1 hour."));
        }

        CheckExchange(registration, policy ?? ClientPolicy.Operator, problems);
        return problems;
    }

    private static List<Problem> NullEntries(ClientRegistration registration)
    {
        var problems = new List<Problem>();
        foreach (var (field, entries) in new[]
        {
            ("redirect_uris", registration.RedirectUris),
            ("post_logout_redirect_uris", registration.PostLogoutRedirectUris),
            ("grant_types", registration.GrantTypes ?? []),
            ("scopes", registration.Scopes),
            ("token_exchange_audiences", registration.TokenExchangeAudiences),
        })
        {
            for (var index = 0; index < entries.Count; index++)
            {
                if (entries[index] is null)
                {
                    problems.Add(Problem.Invalid($"{field}[{index}]", $"{field} must not contain null.", "null_entry"));
                }
            }
        }

        return problems;
    }

    private static void CheckPolicy(ClientRegistration registration, ClientPolicy policy, List<Problem> problems)
    {
        if (policy.GrantTypes is { } grants && GrantTypesOf(registration).Any(grant => !grants.Contains(grant)))
        {
            // Note: threat model 3.1: a registration token is not an admin token. client_credentials would give the
            // caller API tokens with no user and no consent, so only the grants of a client that signs users in are open.
            problems.Add(Problem.Invalid("grant_types", $"Only the {string.Join(" and ", grants.Order(StringComparer.Ordinal))} grant types can be registered here; machine clients are created through the admin API.", "grant_type_not_allowed"));
        }

        if (!policy.AllowsImplicitConsent && registration.ImplicitConsent)
        {
            problems.Add(Problem.Invalid("consent", "Only an operator may register a client with implicit consent.", "consent_not_allowed"));
        }

        if (policy.OpenScopes is { } open)
        {
            for (var index = 0; index < registration.Scopes.Count; index++)
            {
                // Note: privileges are never taken from client input. This path can only name the OpenID scopes
                // and the API scopes the operator opened to it (which ClientRegistry checks exist).
                var scope = registration.Scopes[index];
                if (!StandardScopes.Contains(scope) && (!open.Contains(scope) || AdminScopes.IsPrivileged(scope)))
                {
                    problems.Add(Problem.Invalid($"scopes[{index}]", $"Scope '{scope}' can't be registered.", "scope_not_allowed"));
                }
            }
        }
    }

    private static void CheckIdentity(ClientRegistration registration, List<Problem> problems)
    {
        if (!ClientIdPattern().IsMatch(registration.ClientId))
        {
            problems.Add(Problem.Invalid("client_id", "client_id must be 3 to 100 characters of letters, digits, '.', '_' or '-'."));
        }
        else if (Guid.TryParse(registration.ClientId, out _))
        {
            // Note: a client_credentials token's sub is its client_id and a user's sub is their id (a GUID, in
            // any of the spellings Guid.TryParse reads); a client named like a user would share that user's subject
            // wherever tokens are read (userinfo, resource servers, audit).
            problems.Add(Problem.Invalid("client_id", "client_id must not have the form of a GUID: user ids have that form, and a client's tokens must never name a user."));
        }

        // Note: bounded sizes: a registration is shown on consent pages and read on every authorize request.
        if (registration.DisplayName is { Length: > MaxDisplayNameLength })
        {
            problems.Add(Problem.Invalid("display_name", $"display_name must be at most {MaxDisplayNameLength} characters."));
        }

        foreach (var (field, count, limit) in new[]
        {
            ("redirect_uris", registration.RedirectUris.Count, MaxUris),
            ("post_logout_redirect_uris", registration.PostLogoutRedirectUris.Count, MaxUris),
            ("scopes", registration.Scopes.Count, MaxScopes),
        })
        {
            if (count > limit)
            {
                problems.Add(Problem.Invalid(field, $"{field} may have at most {limit} entries.", "too_many_" + field));
            }
        }

        if (registration.ApplicationType == ClientApplicationType.Native && registration.Kind != ClientKind.Public)
        {
            problems.Add(Problem.Invalid("type", "A native app is a public client: it can't keep a secret (RFC 8252 §8.4)."));
        }
    }

    private static void CheckSecret(ClientRegistration registration, bool requireSecret, List<Problem> problems)
    {
        if (requireSecret && registration.Kind == ClientKind.Confidential && string.IsNullOrEmpty(registration.Secret) && !registration.UsesKeys)
        {
            problems.Add(Problem.Invalid("client_secret", "A confidential client needs a secret."));
        }

        if (registration.Kind == ClientKind.Confidential && registration.Secret is { Length: < 32 })
        {
            problems.Add(Problem.Invalid("client_secret", "A client secret must be at least 32 characters long."));
        }

        if (registration.Kind == ClientKind.Public && registration.Secret is not null)
        {
            problems.Add(Problem.Invalid("client_secret", "A public client has no secret."));
        }
    }

    // Note: RFC 7523 / OIDC Core §9 private_key_jwt: the client proves itself with a key only it holds, so it has no
    // secret (one would be a second, weaker way in), and the keys are public ones the server can verify with.
    private static void CheckKeys(ClientRegistration registration, List<Problem> problems)
    {
        if (!registration.UsesKeys)
        {
            return;
        }

        if (registration.Kind != ClientKind.Confidential)
        {
            problems.Add(Problem.Invalid("jwks", "Only a confidential client authenticates with keys (private_key_jwt)."));
        }

        if (registration.Secret is not null)
        {
            problems.Add(Problem.Invalid("client_secret", "A private_key_jwt client has no secret."));
        }

        if (registration.Jwks is not null && registration.JwksUri is not null)
        {
            problems.Add(Problem.Invalid("jwks", "Give jwks or jwks_uri, not both (RFC 7591 §2)."));
        }

        if (registration.Jwks is { } jwks && Protocol.Assertions.ClientKeySet.Parse(jwks).Problem is { } invalid)
        {
            problems.Add(Problem.Invalid("jwks", invalid, "invalid_jwks"));
        }

        // Note: the form only; whether it may be fetched from here (https, public addresses) depends on the
        // environment and on DNS, which ClientRegistry asks.
        if (registration.JwksUri is { } uri && Protocol.Assertions.ClientKeySet.JwksUriProblem(uri, development: true) is { } malformed)
        {
            problems.Add(Problem.Invalid("jwks_uri", malformed, "invalid_jwks_uri"));
        }
    }

    private static void CheckGrants(ClientRegistration registration, List<Problem> problems)
    {
        var grants = GrantTypesOf(registration);
        foreach (var grant in grants.Where(grant => !SupportedGrantTypes.Contains(grant)))
        {
            problems.Add(Problem.Invalid("grant_types", $"Grant type '{grant}' is not supported: use authorization_code, refresh_token, client_credentials or {GrantTypes.DeviceCode}."));
        }

        var codeFlow = grants.Contains(GrantTypes.AuthorizationCode);
        if (codeFlow != registration.RedirectUris.Count > 0)
        {
            problems.Add(Problem.Invalid("grant_types", "authorization_code needs redirect_uris, and redirect_uris need authorization_code."));
        }

        // Note: a device (RFC 8628) signs a user in without a redirect URI; its refresh token keeps a TV signed in.
        var deviceFlow = grants.Contains(GrantTypes.DeviceCode);
        if (grants.Contains(GrantTypes.RefreshToken) && !codeFlow && !deviceFlow)
        {
            problems.Add(Problem.Invalid("grant_types", "refresh_token is only issued with authorization_code or the device_code grant."));
        }

        if (registration.Kind == ClientKind.Public && grants.Contains(GrantTypes.ClientCredentials))
        {
            problems.Add(Problem.Invalid("grant_types", "client_credentials is for confidential clients only."));
        }

        if (registration.RedirectUris.Count == 0 && !grants.Contains(GrantTypes.ClientCredentials) && !deviceFlow)
        {
            problems.Add(Problem.Invalid("redirect_uris", "Give at least one redirect URI (or allow client_credentials for a machine client, or the device_code grant for a device).", "invalid_redirect_uri"));
        }
    }

    private static void CheckUris(ClientRegistration registration, List<Problem> problems)
    {
        var native = registration.ApplicationType == ClientApplicationType.Native;
        foreach (var (field, uris) in new[] { ("redirect_uris", registration.RedirectUris), ("post_logout_redirect_uris", registration.PostLogoutRedirectUris) })
        {
            for (var index = 0; index < uris.Count; index++)
            {
                if (RedirectUriProblem(uris[index], native) is { } problem)
                {
                    problems.Add(Problem.Invalid($"{field}[{index}]", problem, "invalid_redirect_uri"));
                }
            }
        }
    }

    private static void CheckScopes(ClientRegistration registration, List<Problem> problems)
    {
        var machine = registration.Kind == ClientKind.Confidential && AllowsClientCredentials(registration) && registration.RedirectUris.Count == 0;
        for (var index = 0; index < registration.Scopes.Count; index++)
        {
            var scope = registration.Scopes[index];
            if (!IsScopeToken(scope))
            {
                problems.Add(Problem.Invalid($"scopes[{index}]", $"Scope '{scope}' is not a valid scope token.", "invalid_scope"));
            }
            else if (scope == AdminScopes.Admin && !machine && !AdminConsole(registration))
            {
                // Note: threat model 3.1: a user's token carries oauth.admin only through a client that does nothing
                // else: the code flow alone (no client_credentials token of its own beside the people's, no device
                // code a person can be talked into approving). Who may get the scope is decided at every sign-in and
                // every admin request from the user's row (User.IsAdministrator), never by the client.
                problems.Add(Problem.Invalid($"scopes[{index}]", $"Scope '{scope}' is only for confidential client_credentials clients without redirect URIs, or for clients that sign administrators in with the code flow alone.", "privileged_scope"));
            }
            else if (scope == AdminScopes.Register && !machine)
            {
                // Note: an initial access token (RFC 7591 §3) is a machine's credential; no person's token carries it.
                problems.Add(Problem.Invalid($"scopes[{index}]", $"Scope '{scope}' is only for confidential client_credentials clients without redirect URIs.", "privileged_scope"));
            }
        }
    }

    // An admin console: it signs people in with the code flow (and refreshes), and has no other grant.
    private static bool AdminConsole(ClientRegistration registration) =>
        registration.RedirectUris.Count > 0
        && GrantTypesOf(registration).All(grant => grant is GrantTypes.AuthorizationCode or GrantTypes.RefreshToken);

    /// <summary>
    /// RFC 7591 §2 logo_uri and client_uri: what a person sees of the client besides its name. Outside Development
    /// they must be https (<paramref name="development"/> false, which <see cref="ClientRegistry"/> checks); the
    /// form holds everywhere. <see cref="Check"/> checks the form only.
    /// </summary>
    public static void CheckPresentation(ClientRegistration registration, bool development, List<Problem> problems)
    {
        foreach (var (field, value) in new[] { ("logo_uri", registration.LogoUri), ("client_uri", registration.ClientUri) })
        {
            if (value is not null && PresentationUriProblem(field, value, development) is { } problem)
            {
                problems.Add(Problem.Invalid(field, problem, "invalid_" + field));
            }
        }
    }

    /// <summary>
    /// A logo or home page link is absolute https (http only in Development), bounded, and carries neither
    /// credentials nor a fragment: it is put into the page as an <c>img src</c> or an <c>a href</c>, so no
    /// <c>javascript:</c> or <c>data:</c> URI, and no <c>user:password@</c> that would make a link look like another site.
    /// </summary>
    public static string? PresentationUriProblem(string field, string value, bool development)
    {
        if (value.Length > MaxPresentationUriLength || !Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.IsFile || uri.IsUnc
            || string.IsNullOrEmpty(uri.Host) || value.Any(char.IsControl) || value.Any(char.IsWhiteSpace))
        {
            return $"{field} must be an absolute URL of at most {MaxPresentationUriLength} characters.";
        }

        if (uri.Scheme != Uri.UriSchemeHttps && !(development && uri.Scheme == Uri.UriSchemeHttp))
        {
            return development ? $"{field} must use https or http." : $"{field} must use https.";
        }

        if (!string.IsNullOrEmpty(uri.UserInfo) || value.Contains('#', StringComparison.Ordinal))
        {
            return $"{field} must not carry credentials or a fragment.";
        }

        return null;
    }

    /// <summary>
    /// Redirect URIs are absolute, have no fragment or wildcard, and use https; the exceptions are loopback
    /// http for native and development clients and private-use schemes for native apps (RFC 8252 §7).
    /// </summary>
    public static string? RedirectUriProblem(string value, bool native)
    {
        if (value.Contains('*'))
        {
            return $"Redirect URI '{value}' must not contain a wildcard.";
        }

        // Note: on Unix, .NET reads "/path" as an absolute file:// URI; a redirect URI is never a file path.
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.IsFile || uri.IsUnc)
        {
            return $"Redirect URI '{value}' is not an absolute URI.";
        }

        if (!string.IsNullOrEmpty(uri.Fragment) || value.Contains('#'))
        {
            return $"Redirect URI '{value}' must not have a fragment.";
        }

        if (uri.Scheme == Uri.UriSchemeHttps)
        {
            return null;
        }

        if (uri.Scheme == Uri.UriSchemeHttp)
        {
            return uri.Host is "127.0.0.1" or "[::1]" or "localhost"
                ? null
                : $"Redirect URI '{value}' must use https (plain http is allowed for 127.0.0.1, [::1] and localhost only).";
        }

        // Note: RFC 8252 §7.1: a private-use scheme is a reversed domain name, such as com.example.app:/cb, and
        // belongs to a native app; a web client using one could have its codes delivered to any installed app.
        if (!uri.Scheme.Contains('.', StringComparison.Ordinal) || uri.Scheme is "javascript" or "data" or "file")
        {
            return $"Redirect URI '{value}' must use https, loopback http, or a reversed-domain private-use scheme.";
        }

        return native ? null : $"Redirect URI '{value}' uses a private-use scheme, which only native clients (application_type native) may use.";
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{3,100}$")]
    private static partial Regex ClientIdPattern();

    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    [GeneratedRegex(@"^[\x21\x23-\x5B\x5D-\x7E]{1,100}$")]
    private static partial Regex ScopePattern();
}
