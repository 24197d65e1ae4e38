using System.Globalization;
using System.Text.RegularExpressions;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

internal enum ClientKind
{
    Public,
    Confidential,
}

/// <summary>What an operator asks for when registering a client.</summary>
internal sealed record ClientRegistration
{
    public required string ClientId { get; init; }

    public string? DisplayName { get; init; }

    public ClientKind Kind { get; init; }

    public string? Secret { get; init; }

    public IReadOnlyList<string> RedirectUris { get; init; } = [];

    public IReadOnlyList<string> PostLogoutRedirectUris { get; init; } = [];

    public IReadOnlyList<string> Scopes { get; init; } = [];

    /// <summary>Lets a confidential client use <c>client_credentials</c>. Never a public one.</summary>
    public bool AllowClientCredentials { get; init; }

    /// <summary>
    /// A native app (RFC 8252): a public client whose loopback IP redirect URIs match on any port
    /// (<c>Protocol/LoopbackRedirectUriHandler</c>).
    /// </summary>
    public bool Native { get; init; }

    /// <summary>Implicit consent skips the consent page: for first-party apps only.</summary>
    public bool ImplicitConsent { get; init; }

    public TimeSpan? AccessTokenLifetime { get; init; }
}

/// <summary>Registers OAuth clients after checking them against the rules of OAuth 2.1 and RFC 8252.</summary>
internal sealed partial class ClientRegistry(
    IOpenIddictApplicationManager applications, IOpenIddictScopeManager scopes, Data.OAuthDbContext db, Events.SecurityEvents events)
{
    private static readonly HashSet<string> StandardScopes =
        [Scopes.OpenId, Scopes.Profile, Scopes.Email, Scopes.OfflineAccess];

    public async Task<IReadOnlyList<string>> RegisterAsync(ClientRegistration registration, Events.RequestOrigin? origin = null, CancellationToken cancellationToken = default)
    {
        var problems = Validate(registration).ToList();
        if (problems.Count == 0 && await applications.FindByClientIdAsync(registration.ClientId, cancellationToken) is not null)
        {
            problems.Add($"A client with client_id '{registration.ClientId}' already exists.");
        }

        if (problems.Count > 0)
        {
            return problems;
        }

        // Note: the client, its scopes and its client.created event commit together.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        foreach (var scope in registration.Scopes.Where(scope => !StandardScopes.Contains(scope)))
        {
            // Note: an API scope names its resource server; the resource becomes the access token's aud.
            if (await scopes.FindByNameAsync(scope, cancellationToken) is null)
            {
                await scopes.CreateAsync(new OpenIddictScopeDescriptor { Name = scope, Resources = { scope } }, cancellationToken);
            }
        }

        await applications.CreateAsync(ToDescriptor(registration), cancellationToken);
        events.Add(Events.SecurityEventTypes.ClientCreated, (origin ?? Events.RequestOrigin.None) with { ClientId = registration.ClientId }, data: new
        {
            type = registration.Kind.ToString().ToLowerInvariant(),
            redirect_uris = registration.RedirectUris,
            scopes = registration.Scopes,
            client_credentials = registration.AllowClientCredentials,
        });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return [];
    }

    public static IEnumerable<string> Validate(ClientRegistration registration)
    {
        if (!ClientIdPattern().IsMatch(registration.ClientId))
        {
            yield return "client_id must be 3 to 100 characters of letters, digits, '.', '_' or '-'.";
        }

        if (registration.Kind == ClientKind.Confidential && string.IsNullOrEmpty(registration.Secret))
        {
            yield return "A confidential client needs a secret.";
        }

        if (registration.Kind == ClientKind.Confidential && registration.Secret is { Length: < 32 })
        {
            yield return "A client secret must be at least 32 characters long.";
        }

        if (registration.Kind == ClientKind.Public && registration.Secret is not null)
        {
            yield return "A public client has no secret.";
        }

        if (registration.Native && registration.Kind != ClientKind.Public)
        {
            yield return "A native app is a public client: it can't keep a secret (RFC 8252 §8.4).";
        }

        if (registration.Kind == ClientKind.Public && registration.AllowClientCredentials)
        {
            yield return "client_credentials is for confidential clients only.";
        }

        if (registration.RedirectUris.Count == 0 && !registration.AllowClientCredentials)
        {
            yield return "Give at least one redirect URI (or allow client_credentials for a machine client).";
        }

        foreach (var uri in registration.RedirectUris.Concat(registration.PostLogoutRedirectUris))
        {
            if (RedirectUriProblem(uri) is { } problem)
            {
                yield return problem;
            }
        }

        foreach (var scope in registration.Scopes)
        {
            if (!ScopePattern().IsMatch(scope))
            {
                yield return $"Scope '{scope}' is not a valid scope token.";
            }
        }

        if (registration.AccessTokenLifetime is { } lifetime && (lifetime <= TimeSpan.Zero || lifetime > TimeSpan.FromHours(1)))
        {
            yield return "access_token_lifetime must be between 1 second and 1 hour.";
        }
    }

    /// <summary>
    /// Redirect URIs are absolute, have no fragment or wildcard, and use https; the exceptions are loopback
    /// http for native and development clients and private-use schemes for native apps (RFC 8252 §7).
    /// </summary>
    public static string? RedirectUriProblem(string value)
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

        // Note: RFC 8252 §7.1: a private-use scheme is a reversed domain name, such as com.example.app:/cb.
        return uri.Scheme.Contains('.', StringComparison.Ordinal) && uri.Scheme is not ("javascript" or "data" or "file")
            ? null
            : $"Redirect URI '{value}' must use https, loopback http, or a reversed-domain private-use scheme.";
    }

    private static OpenIddictApplicationDescriptor ToDescriptor(ClientRegistration registration)
    {
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = registration.ClientId,
            ClientSecret = registration.Secret,
            DisplayName = registration.DisplayName ?? registration.ClientId,
            ClientType = registration.Kind == ClientKind.Public ? ClientTypes.Public : ClientTypes.Confidential,
            ConsentType = registration.ImplicitConsent ? ConsentTypes.Implicit : ConsentTypes.Explicit,
            ApplicationType = registration.Native ? ApplicationTypes.Native : ApplicationTypes.Web,
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

    [GeneratedRegex("^[A-Za-z0-9._-]{3,100}$")]
    private static partial Regex ClientIdPattern();

    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    [GeneratedRegex(@"^[\x21\x23-\x5B\x5D-\x7E]{1,100}$")]
    private static partial Regex ScopePattern();
}
