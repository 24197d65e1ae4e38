using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.WebUtilities;
using OAuthServer.Security;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>
/// Registers and manages OAuth clients after checking them against the rules of OAuth 2.1 and RFC 8252. The CLI,
/// the admin API, dynamic registration and the development seed all come through here, so one set of rules
/// holds everywhere. Every change commits with its security event (and, when an actor is set, its audit row).
/// </summary>
internal sealed partial class ClientRegistry(
    IOpenIddictApplicationManager applications, IOpenIddictScopeManager scopes, Data.OAuthDbContext db, Events.SecurityEvents events, AllowedOrigins origins)
{
    public const int MaxDisplayNameLength = 100;
    public const int MaxUris = 20;
    public const int MaxScopes = 50;

    private static readonly HashSet<string> StandardScopes =
        [Scopes.OpenId, Scopes.Profile, Scopes.Email, Scopes.OfflineAccess];

    /// <summary>A server-generated client secret: 256 bits from the CSPRNG, base64url.</summary>
    public static string NewSecret() => WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32));

    /// <summary>A server-chosen client_id: 128 bits from the CSPRNG, base64url (22 characters).</summary>
    public static string NewClientId() => WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(16));

    public async Task<IReadOnlyList<ClientProblem>> RegisterAsync(ClientRegistration registration, Events.RequestOrigin? origin = null, CancellationToken cancellationToken = default)
    {
        var problems = Validate(registration).ToList();
        if (problems.Count == 0 && await applications.FindByClientIdAsync(registration.ClientId, cancellationToken) is not null)
        {
            problems.Add(new("client_id", $"A client with client_id '{registration.ClientId}' already exists.") { IsConflict = true });
        }

        if (problems.Count > 0)
        {
            return problems;
        }

        // Note: the client, its scopes and its client.created event commit together.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await EnsureScopesAsync(registration, cancellationToken);
        await applications.CreateAsync(ToDescriptor(registration), cancellationToken);
        events.Add(Events.SecurityEventTypes.ClientCreated, (origin ?? Events.RequestOrigin.None) with { ClientId = registration.ClientId }, data: Summary(registration));
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        origins.Invalidate();
        return [];
    }

    /// <summary>Replaces a client's settings; its client_id, type and secret stay. Null when there is no such client.</summary>
    public async Task<IReadOnlyList<ClientProblem>?> UpdateAsync(ClientRegistration registration, Events.RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var application = await applications.FindByClientIdAsync(registration.ClientId, cancellationToken);
        if (application is null)
        {
            return null;
        }

        var current = new OpenIddictApplicationDescriptor();
        await applications.PopulateAsync(current, application, cancellationToken);
        var problems = Validate(registration with { Secret = null }, requireSecret: false).ToList();
        if (!string.Equals(current.ClientType, KindName(registration.Kind), StringComparison.Ordinal))
        {
            problems.Add(new("type", "A client's type can't change; register a new client instead."));
        }

        if (problems.Count > 0)
        {
            return problems;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await EnsureScopesAsync(registration, cancellationToken);
        var descriptor = ToDescriptor(registration with { Secret = null });
        // Note: the stored (hashed) secret is carried over unchanged, so OpenIddict does not hash it again.
        descriptor.ClientSecret = current.ClientSecret;
        await applications.UpdateAsync(application, descriptor, cancellationToken);
        events.Add(Events.SecurityEventTypes.ClientUpdated, origin with { ClientId = registration.ClientId }, data: Summary(registration));
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        origins.Invalidate();
        return [];
    }

    /// <summary>Deletes a client with its authorizations and tokens, so none of them can be used again.</summary>
    public async Task<bool> DeleteAsync(string clientId, Events.RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var application = await applications.FindByClientIdAsync(clientId, cancellationToken);
        if (application is null)
        {
            return false;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        // Note: OpenIddict's store removes the client's authorizations and tokens with it, so refresh tokens
        // and token entries are gone and every token check at this server fails from now on.
        await applications.DeleteAsync(application, cancellationToken);
        events.Add(Events.SecurityEventTypes.ClientDeleted, origin with { ClientId = clientId });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        origins.Invalidate();
        return true;
    }

    /// <summary>Gives a confidential client a new server-generated secret; the old one stops working at once.</summary>
    public async Task<(string? Secret, ClientProblem? Problem)> RotateSecretAsync(string clientId, Events.RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var application = await applications.FindByClientIdAsync(clientId, cancellationToken);
        if (application is null)
        {
            return (null, null);
        }

        if (!await applications.HasClientTypeAsync(application, ClientTypes.Confidential, cancellationToken))
        {
            return (null, new("client_id", "A public client has no secret to rotate."));
        }

        var secret = NewSecret();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await applications.UpdateAsync(application, secret, cancellationToken);
        events.Add(Events.SecurityEventTypes.ClientSecretRotated, origin with { ClientId = clientId });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (secret, null);
    }

    public async Task<ClientView?> GetAsync(string clientId, CancellationToken cancellationToken = default) =>
        await applications.FindByClientIdAsync(clientId, cancellationToken) is { } application
            ? await ViewAsync(application, cancellationToken)
            : null;

    public async Task<IReadOnlyList<ClientView>> ListAsync(int offset, int count, CancellationToken cancellationToken = default)
    {
        var views = new List<ClientView>();
        await foreach (var application in applications.ListAsync(count, offset, cancellationToken))
        {
            views.Add(await ViewAsync(application, cancellationToken));
        }

        return views;
    }

    private async Task<ClientView> ViewAsync(object application, CancellationToken cancellationToken)
    {
        var descriptor = new OpenIddictApplicationDescriptor();
        await applications.PopulateAsync(descriptor, application, cancellationToken);
        var grants = new List<string>();
        foreach (var (permission, grant) in new[]
        {
            (Permissions.GrantTypes.AuthorizationCode, GrantTypes.AuthorizationCode),
            (Permissions.GrantTypes.RefreshToken, GrantTypes.RefreshToken),
            (Permissions.GrantTypes.ClientCredentials, GrantTypes.ClientCredentials),
        })
        {
            if (descriptor.Permissions.Contains(permission))
            {
                grants.Add(grant);
            }
        }

        return new ClientView(
            descriptor.ClientId!,
            descriptor.DisplayName,
            descriptor.ClientType ?? ClientTypes.Public,
            descriptor.ApplicationType ?? ApplicationTypes.Web,
            [.. descriptor.RedirectUris.Select(uri => uri.OriginalString)],
            [.. descriptor.PostLogoutRedirectUris.Select(uri => uri.OriginalString)],
            grants,
            [.. descriptor.Permissions.Where(permission => permission.StartsWith(Permissions.Prefixes.Scope, StringComparison.Ordinal))
                .Select(permission => permission[Permissions.Prefixes.Scope.Length..])],
            descriptor.ConsentType ?? ConsentTypes.Explicit,
            descriptor.Settings.TryGetValue(Settings.TokenLifetimes.AccessToken, out var lifetime)
                ? (int)TimeSpan.Parse(lifetime, CultureInfo.InvariantCulture).TotalSeconds
                : null);
    }

    private async Task EnsureScopesAsync(ClientRegistration registration, CancellationToken cancellationToken)
    {
        foreach (var scope in registration.Scopes.Where(scope => !StandardScopes.Contains(scope)))
        {
            // Note: an API scope names its resource server; the resource becomes the access token's aud.
            if (await scopes.FindByNameAsync(scope, cancellationToken) is null)
            {
                await scopes.CreateAsync(new OpenIddictScopeDescriptor { Name = scope, Resources = { scope } }, cancellationToken);
            }
        }
    }

    private static object Summary(ClientRegistration registration) => new
    {
        type = KindName(registration.Kind),
        redirect_uris = registration.RedirectUris,
        scopes = registration.Scopes,
        client_credentials = registration.AllowClientCredentials,
    };

    private static string KindName(ClientKind kind) => kind == ClientKind.Public ? ClientTypes.Public : ClientTypes.Confidential;

    public static IEnumerable<ClientProblem> Validate(ClientRegistration registration, bool requireSecret = true)
    {
        if (!ClientIdPattern().IsMatch(registration.ClientId))
        {
            yield return new("client_id", "client_id must be 3 to 100 characters of letters, digits, '.', '_' or '-'.");
        }
        else if (Guid.TryParse(registration.ClientId, out _))
        {
            // Note: a client_credentials token's sub is its client_id and a user's sub is their id (a GUID, in
            // any of the spellings Guid.TryParse reads); a client named like a user would share that user's subject
            // wherever tokens are read (userinfo, resource servers, audit).
            yield return new("client_id", "client_id must not have the form of a GUID: user ids have that form, and a client's tokens must never name a user.");
        }

        // Note: bounded sizes: a registration is shown on consent pages and read on every authorize request.
        if (registration.DisplayName is { Length: > MaxDisplayNameLength })
        {
            yield return new("display_name", $"display_name must be at most {MaxDisplayNameLength} characters.");
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
                yield return new(field, $"{field} may have at most {limit} entries.");
            }
        }

        if (requireSecret && registration.Kind == ClientKind.Confidential && string.IsNullOrEmpty(registration.Secret))
        {
            yield return new("client_secret", "A confidential client needs a secret.");
        }

        if (registration.Kind == ClientKind.Confidential && registration.Secret is { Length: < 32 })
        {
            yield return new("client_secret", "A client secret must be at least 32 characters long.");
        }

        if (registration.Kind == ClientKind.Public && registration.Secret is not null)
        {
            yield return new("client_secret", "A public client has no secret.");
        }

        if (registration.ApplicationType == ClientApplicationType.Native && registration.Kind != ClientKind.Public)
        {
            yield return new("type", "A native app is a public client: it can't keep a secret (RFC 8252 §8.4).");
        }

        if (registration.Kind == ClientKind.Public && registration.AllowClientCredentials)
        {
            yield return new("grant_types", "client_credentials is for confidential clients only.");
        }

        if (registration.RedirectUris.Count == 0 && !registration.AllowClientCredentials)
        {
            yield return new("redirect_uris", "Give at least one redirect URI (or allow client_credentials for a machine client).");
        }

        var native = registration.ApplicationType == ClientApplicationType.Native;
        for (var index = 0; index < registration.RedirectUris.Count; index++)
        {
            if (RedirectUriProblem(registration.RedirectUris[index], native) is { } problem)
            {
                yield return new($"redirect_uris[{index}]", problem);
            }
        }

        for (var index = 0; index < registration.PostLogoutRedirectUris.Count; index++)
        {
            if (RedirectUriProblem(registration.PostLogoutRedirectUris[index], native) is { } problem)
            {
                yield return new($"post_logout_redirect_uris[{index}]", problem);
            }
        }

        for (var index = 0; index < registration.Scopes.Count; index++)
        {
            var scope = registration.Scopes[index];
            if (!ScopePattern().IsMatch(scope))
            {
                yield return new($"scopes[{index}]", $"Scope '{scope}' is not a valid scope token.");
            }
            else if (AdminScopes.IsPrivileged(scope) && (registration.Kind != ClientKind.Confidential || !registration.AllowClientCredentials || registration.RedirectUris.Count > 0))
            {
                // Note: threat model 3.1: power over this server goes to machine clients only, never to a client
                // that signs users in, where a user's token would carry it.
                yield return new($"scopes[{index}]", $"Scope '{scope}' is only for confidential client_credentials clients without redirect URIs.");
            }
        }

        if (registration.AccessTokenLifetime is { } lifetime && (lifetime <= TimeSpan.Zero || lifetime > TimeSpan.FromHours(1)))
        {
            yield return new("access_token_lifetime", "access_token_lifetime must be between 1 second and 1 hour.");
        }
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

    private static OpenIddictApplicationDescriptor ToDescriptor(ClientRegistration registration)
    {
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = registration.ClientId,
            ClientSecret = registration.Secret,
            DisplayName = registration.DisplayName ?? registration.ClientId,
            ClientType = KindName(registration.Kind),
            ApplicationType = registration.ApplicationType == ClientApplicationType.Native ? ApplicationTypes.Native : ApplicationTypes.Web,
            ConsentType = registration.ImplicitConsent ? ConsentTypes.Implicit : ConsentTypes.Explicit,
        };

        descriptor.Permissions.Add(Permissions.Endpoints.Token);
        descriptor.Permissions.Add(Permissions.Endpoints.Revocation);
        if (registration.Kind == ClientKind.Confidential)
        {
            descriptor.Permissions.Add(Permissions.Endpoints.Introspection);
        }

        if (registration.RedirectUris.Count > 0)
        {
            descriptor.Permissions.Add(Permissions.Endpoints.Authorization);
            descriptor.Permissions.Add(Permissions.Endpoints.PushedAuthorization);
            descriptor.Permissions.Add(Permissions.Endpoints.EndSession);
            descriptor.Permissions.Add(Permissions.GrantTypes.AuthorizationCode);
            descriptor.Permissions.Add(Permissions.GrantTypes.RefreshToken);
            descriptor.Permissions.Add(Permissions.ResponseTypes.Code);
            // Note: OAuth 2.1 §7.5.1: every client that uses the code flow must send PKCE, confidential ones too.
            descriptor.Requirements.Add(Requirements.Features.ProofKeyForCodeExchange);
        }

        if (registration.AllowClientCredentials)
        {
            descriptor.Permissions.Add(Permissions.GrantTypes.ClientCredentials);
        }

        foreach (var scope in registration.Scopes)
        {
            descriptor.Permissions.Add(Permissions.Prefixes.Scope + scope);
        }

        foreach (var uri in registration.RedirectUris)
        {
            descriptor.RedirectUris.Add(new Uri(uri, UriKind.Absolute));
        }

        foreach (var uri in registration.PostLogoutRedirectUris)
        {
            descriptor.PostLogoutRedirectUris.Add(new Uri(uri, UriKind.Absolute));
        }

        if (registration.AccessTokenLifetime is { } lifetime)
        {
            descriptor.Settings[Settings.TokenLifetimes.AccessToken] = lifetime.ToString("c", CultureInfo.InvariantCulture);
        }

        return descriptor;
    }

    public static bool IsScopeToken(string scope) => ScopePattern().IsMatch(scope);

    [GeneratedRegex("^[A-Za-z0-9._-]{3,100}$")]
    private static partial Regex ClientIdPattern();

    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    [GeneratedRegex(@"^[\x21\x23-\x5B\x5D-\x7E]{1,100}$")]
    private static partial Regex ScopePattern();
}
