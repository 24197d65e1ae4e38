using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.WebUtilities;
using OAuthServer.Data;
using OAuthServer.Protocol;
using OAuthServer.Security;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>
/// Registers and manages OAuth clients after checking them against <see cref="ClientRules"/>. The CLI, the admin
/// API, dynamic registration, the bootstrap client and the development seed all come through here, so one set of
/// rules holds everywhere. Every change commits with its security event (and, when an actor is set, its audit row).
/// </summary>
internal sealed class ClientRegistry(
    IOpenIddictApplicationManager applications, IOpenIddictScopeManager scopes, Data.OAuthDbContext db, Events.SecurityEvents events, AllowedOrigins origins,
    Protocol.Assertions.JwksUriKeys jwksUri, IHostEnvironment environment)
{
    /// <summary>A server-generated client secret: 256 bits from the CSPRNG, base64url.</summary>
    public static string NewSecret() => WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32));

    /// <summary>A server-chosen client_id: 128 bits from the CSPRNG, base64url (22 characters).</summary>
    public static string NewClientId() => WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(16));

    /// <summary>
    /// Registers a client that passes <see cref="ClientRules"/> and the limits of <paramref name="policy"/> (the
    /// operator's, by default); a taken client_id is a conflict.
    /// </summary>
    public async Task<Outcome> RegisterAsync(
        ClientRegistration registration, Events.RequestOrigin? origin = null, ClientPolicy? policy = null, CancellationToken cancellationToken = default)
    {
        if (await CheckAsync(registration, policy, requireSecret: true, cancellationToken) is { Succeeded: false } refused)
        {
            return refused;
        }

        if (await applications.FindByClientIdAsync(registration.ClientId, cancellationToken) is not null)
        {
            return Problem.Conflict("client_id", $"A client with client_id '{registration.ClientId}' already exists.");
        }

        // Note: the client, its scopes and its client.created event commit together.
        await db.InTransactionAsync(async () =>
        {
            await EnsureScopesAsync(registration, cancellationToken);
            await applications.CreateAsync(ToDescriptor(registration), cancellationToken);
            events.Add(Events.SecurityEventTypes.ClientCreated, (origin ?? Events.RequestOrigin.None) with { ClientId = registration.ClientId }, data: Summary(registration));
            await db.SaveChangesAsync(cancellationToken);
        }, cancellationToken);
        origins.Invalidate();
        return Outcome.Success;
    }

    /// <summary>
    /// Makes sure a client configured by the operator (the bootstrap client, the development seed) exists as
    /// configured, so start-up can call it every time: it is registered like any other client when absent (with
    /// its client.created event), and given the configured secret when that no longer matches the stored one.
    /// Otherwise nothing is written.
    /// </summary>
    public async Task<Outcome> EnsureAsync(ClientRegistration registration, Events.RequestOrigin? origin = null, CancellationToken cancellationToken = default)
    {
        var application = await applications.FindByClientIdAsync(registration.ClientId, cancellationToken);
        if (application is null)
        {
            return await RegisterAsync(registration, origin, ClientPolicy.Operator, cancellationToken);
        }

        if (await CheckAsync(registration, ClientPolicy.Operator, requireSecret: true, cancellationToken) is { Succeeded: false } refused)
        {
            return refused;
        }

        if (registration.Secret is not { } secret || await applications.ValidateClientSecretAsync(application, secret, cancellationToken))
        {
            return Outcome.Success;
        }

        // Note: the configured settings come back with the new secret (OpenIddict hashes it), so a changed secret
        // also undoes changes made to a configured client since.
        await db.InTransactionAsync(async () =>
        {
            await EnsureScopesAsync(registration, cancellationToken);
            await applications.UpdateAsync(application, ToDescriptor(registration), cancellationToken);
            events.Add(Events.SecurityEventTypes.ClientSecretRotated, (origin ?? Events.RequestOrigin.None) with { ClientId = registration.ClientId });
            await db.SaveChangesAsync(cancellationToken);
        }, cancellationToken);
        origins.Invalidate();
        return Outcome.Success;
    }

    /// <summary>Replaces a client's settings; its client_id, type and secret stay.</summary>
    public async Task<Outcome> UpdateAsync(ClientRegistration registration, Events.RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var application = await applications.FindByClientIdAsync(registration.ClientId, cancellationToken);
        if (application is null)
        {
            return NoSuchClient(registration.ClientId);
        }

        var current = new OpenIddictApplicationDescriptor();
        await applications.PopulateAsync(current, application, cancellationToken);
        var problems = ClientRules.Check(registration with { Secret = null }, ClientPolicy.Operator, requireSecret: false).ToList();
        if (!string.Equals(current.ClientType, KindName(registration.Kind), StringComparison.Ordinal))
        {
            problems.Add(Problem.Invalid("type", "A client's type can't change; register a new client instead."));
        }

        // Note: a secret client can't gain keys (it would keep its secret) and a private_key_jwt client can't drop
        // them (it would be confidential with no credential): the way a client authenticates is fixed at registration.
        if (current.ClientType == ClientTypes.Confidential && (current.ClientSecret is null) != registration.UsesKeys)
        {
            problems.Add(Problem.Invalid("token_endpoint_auth_method", "A client's authentication method can't change; register a new client instead."));
        }

        if (problems.Count == 0 && await JwksUriProblemAsync(registration, cancellationToken) is { } unreachable)
        {
            problems.Add(unreachable);
        }

        if (problems.Count == 0)
        {
            ClientRules.CheckPresentation(registration, environment.IsDevelopment(), problems);
        }

        if (problems.Count > 0)
        {
            return Outcome.Failed(problems);
        }

        await db.InTransactionAsync(async () =>
        {
            await EnsureScopesAsync(registration, cancellationToken);
            var descriptor = ToDescriptor(registration with { Secret = null });
            // Note: the stored (hashed) secret is carried over unchanged, so OpenIddict does not hash it again.
            descriptor.ClientSecret = current.ClientSecret;
            await applications.UpdateAsync(application, descriptor, cancellationToken);
            events.Add(Events.SecurityEventTypes.ClientUpdated, origin with { ClientId = registration.ClientId }, data: Summary(registration));
            await db.SaveChangesAsync(cancellationToken);
        }, cancellationToken);
        origins.Invalidate();
        return Outcome.Success;
    }

    /// <summary>Deletes a client with its authorizations and tokens, so none of them can be used again.</summary>
    public async Task<Outcome> DeleteAsync(string clientId, Events.RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var application = await applications.FindByClientIdAsync(clientId, cancellationToken);
        if (application is null)
        {
            return NoSuchClient(clientId);
        }

        await db.InTransactionAsync(async () =>
        {
            // Note: OpenIddict's store removes the client's authorizations and tokens with it, so refresh tokens
            // and token entries are gone and every token check at this server fails from now on.
            await applications.DeleteAsync(application, cancellationToken);
            events.Add(Events.SecurityEventTypes.ClientDeleted, origin with { ClientId = clientId });
            await db.SaveChangesAsync(cancellationToken);
        }, cancellationToken);
        origins.Invalidate();
        return Outcome.Success;
    }

    /// <summary>Gives a confidential client a new server-generated secret; the old one stops working at once.</summary>
    public async Task<Outcome<string>> RotateSecretAsync(string clientId, Events.RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var application = await applications.FindByClientIdAsync(clientId, cancellationToken);
        if (application is null)
        {
            return NoSuchClient(clientId);
        }

        if (!await applications.HasClientTypeAsync(application, ClientTypes.Confidential, cancellationToken))
        {
            return Problem.Invalid("client_id", "A public client has no secret to rotate.", "public_client");
        }

        var populated = new OpenIddictApplicationDescriptor();
        await applications.PopulateAsync(populated, application, cancellationToken);
        if (populated.ClientSecret is null)
        {
            return Problem.Invalid("client_id", "A private_key_jwt client has no secret to rotate; register new keys instead.", "private_key_jwt_client");
        }

        var secret = NewSecret();
        await db.InTransactionAsync(async () =>
        {
            await applications.UpdateAsync(application, secret, cancellationToken);
            events.Add(Events.SecurityEventTypes.ClientSecretRotated, origin with { ClientId = clientId });
            await db.SaveChangesAsync(cancellationToken);
        }, cancellationToken);
        return secret;
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
            (Permissions.GrantTypes.DeviceCode, GrantTypes.DeviceCode),
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
                : null,
            Protocol.Exchange.TokenExchangeTargets.Of(descriptor.Permissions),
            RefreshRetryWindow.Of(descriptor.Settings) is { } window ? (int)window.TotalSeconds : null,
            descriptor.Settings.TryGetValue(Protocol.Dpop.Dpop.BoundAccessTokensSetting, out var dpop) && bool.TryParse(dpop, out var bound) && bound,
            AuthenticationLevels.ClientRequiresSecondFactor(descriptor.Settings))
        {
            TokenEndpointAuthMethod = AuthMethodOf(descriptor),
            Jwks = application is OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreApplication { JsonWebKeySet: { } jwks }
                ? System.Text.Json.JsonDocument.Parse(jwks).RootElement.Clone()
                : null,
            JwksUri = Protocol.Assertions.ClientAssertionHandlers.JwksUriOf(System.Collections.Immutable.ImmutableDictionary.ToImmutableDictionary(descriptor.Properties)),
            LogoUri = ClientPresentation.Read(descriptor.Properties, ClientPresentation.LogoUriProperty),
            ClientUri = ClientPresentation.Read(descriptor.Properties, ClientPresentation.ClientUriProperty),
        };
    }

    // Note: shown for private_key_jwt clients only; a secret client's view stays as it was (it never names secrets).
    private static string? AuthMethodOf(OpenIddictApplicationDescriptor descriptor) =>
        descriptor.ClientType == ClientTypes.Confidential && descriptor.ClientSecret is null ? ClientAuthenticationMethods.PrivateKeyJwt : null;

    // Note: outside Development a jwks_uri must be https and resolve to public addresses only (the fetch checks the
    // address it connects to again, so a name that changes later still can't reach inside).
    private async Task<Problem?> JwksUriProblemAsync(ClientRegistration registration, CancellationToken cancellationToken) =>
        registration.JwksUri is { } uri && await jwksUri.RegistrationProblemAsync(uri, cancellationToken) is { } problem
            ? Problem.Invalid("jwks_uri", problem, "invalid_jwks_uri")
            : null;

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
        client_credentials = ClientRules.AllowsClientCredentials(registration),
        token_endpoint_auth_method = registration.UsesKeys ? ClientAuthenticationMethods.PrivateKeyJwt : null,
        device_code = ClientRules.AllowsDeviceCode(registration),
        require_second_factor = registration.RequireSecondFactor,
    };

    private static string KindName(ClientKind kind) => kind == ClientKind.Public ? ClientTypes.Public : ClientTypes.Confidential;

    /// <summary>The rules, then the scopes a limited path may name must exist: such a path never creates one.</summary>
    private async Task<Outcome> CheckAsync(ClientRegistration registration, ClientPolicy? policy, bool requireSecret, CancellationToken cancellationToken)
    {
        var problems = ClientRules.Check(registration, policy, requireSecret).ToList();
        if (problems.Count == 0 && await JwksUriProblemAsync(registration, cancellationToken) is { } unreachable)
        {
            problems.Add(unreachable);
        }

        // Note: the form was checked with the rules; outside Development a page must not link to plain http.
        if (problems.Count == 0)
        {
            ClientRules.CheckPresentation(registration, environment.IsDevelopment(), problems);
        }

        if (problems.Count == 0 && policy?.OpenScopes is not null)
        {
            for (var index = 0; index < registration.Scopes.Count; index++)
            {
                var scope = registration.Scopes[index];
                if (!StandardScopes.Contains(scope) && await scopes.FindByNameAsync(scope, cancellationToken) is null)
                {
                    problems.Add(Problem.Invalid($"scopes[{index}]", $"Scope '{scope}' can't be registered.", "scope_not_allowed"));
                }
            }
        }

        return problems.Count == 0 ? Outcome.Success : Outcome.Failed(problems);
    }

    private static Problem NoSuchClient(string clientId) => Problem.NotFound($"There is no client with client_id '{clientId}'.");

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

        if (ClientRules.AllowsClientCredentials(registration))
        {
            descriptor.Permissions.Add(Permissions.GrantTypes.ClientCredentials);
        }

        // Note: RFC 8628: the device endpoint and the grant are opt-in per client, public clients included.
        if (ClientRules.AllowsDeviceCode(registration))
        {
            descriptor.Permissions.Add(Permissions.Endpoints.DeviceAuthorization);
            descriptor.Permissions.Add(Permissions.GrantTypes.DeviceCode);
            if (ClientRules.GrantTypesOf(registration).Contains(GrantTypes.RefreshToken))
            {
                descriptor.Permissions.Add(Permissions.GrantTypes.RefreshToken);
            }
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

        // Note: only the canonical form is stored: the public members, as ClientKeySet re-wrote them.
        if (registration.Jwks is { } jwks && Protocol.Assertions.ClientKeySet.Parse(jwks).Canonical is { } canonical)
        {
            descriptor.JsonWebKeySet = new Microsoft.IdentityModel.Tokens.JsonWebKeySet(canonical);
        }

        if (registration.JwksUri is { } jwksUri)
        {
            descriptor.Properties[Protocol.Assertions.ClientAssertionHandlers.JwksUriProperty] = System.Text.Json.JsonSerializer.SerializeToElement(jwksUri);
        }

        ClientPresentation.Write(descriptor.Properties, ClientPresentation.LogoUriProperty, registration.LogoUri);
        ClientPresentation.Write(descriptor.Properties, ClientPresentation.ClientUriProperty, registration.ClientUri);

        // Note: RFC 8693: token exchange is a grant of its own, off unless the operator names its targets.
        descriptor.Permissions.UnionWith(Protocol.Exchange.TokenExchangeTargets.Permissions(registration.TokenExchangeAudiences));
        if (registration.RefreshRetryWindow is { } window)
        {
            descriptor.Settings[RefreshRetryWindow.Setting] = ((int)window.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        }

        if (registration.DpopBoundAccessTokens)
        {
            descriptor.Settings[Protocol.Dpop.Dpop.BoundAccessTokensSetting] = "true";
        }

        if (registration.RequireSecondFactor)
        {
            descriptor.Settings[AuthenticationLevels.RequireSecondFactorSetting] = "true";
        }

        return descriptor;
    }
}
