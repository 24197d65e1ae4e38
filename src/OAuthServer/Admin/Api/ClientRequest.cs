using System.Text.Json.Serialization;
using OpenIddict.Abstractions;

namespace OAuthServer.Admin;

/// <summary>The JSON body of <c>POST /admin/clients</c> and <c>PUT /admin/clients/{client_id}</c>.</summary>
internal sealed class ClientRequest
{
    [JsonPropertyName("client_id")]
    public string? ClientId { get; set; }

    [JsonPropertyName("display_name")]
    public string? DisplayName { get; set; }

    /// <summary><c>public</c> or <c>confidential</c>.</summary>
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    /// <summary><c>web</c> (the default) or <c>native</c>.</summary>
    [JsonPropertyName("application_type")]
    public string? ApplicationType { get; set; }

    [JsonPropertyName("redirect_uris")]
    public List<string>? RedirectUris { get; set; }

    [JsonPropertyName("post_logout_redirect_uris")]
    public List<string>? PostLogoutRedirectUris { get; set; }

    /// <summary><c>authorization_code</c>, <c>refresh_token</c>, <c>client_credentials</c>.</summary>
    [JsonPropertyName("grant_types")]
    public List<string>? GrantTypes { get; set; }

    [JsonPropertyName("scopes")]
    public List<string>? Scopes { get; set; }

    /// <summary><c>explicit</c> (the default) or <c>implicit</c>.</summary>
    [JsonPropertyName("consent")]
    public string? Consent { get; set; }

    /// <summary>Seconds.</summary>
    [JsonPropertyName("access_token_lifetime")]
    public int? AccessTokenLifetime { get; set; }

    /// <summary>
    /// The registration this request asks for, or the fields that are wrong. The API never takes a secret from
    /// the caller: confidential clients get a server-generated one.
    /// </summary>
    public (ClientRegistration? Registration, List<ClientProblem> Problems) ToRegistration(string clientId, string? secret)
    {
        var problems = new List<ClientProblem>();
        var kind = Type switch
        {
            "public" => ClientKind.Public,
            "confidential" => ClientKind.Confidential,
            _ => Problem(problems, "type", "type must be 'public' or 'confidential'.", ClientKind.Public),
        };
        var applicationType = ApplicationType switch
        {
            null or "web" => ClientApplicationType.Web,
            "native" => ClientApplicationType.Native,
            _ => Problem(problems, "application_type", "application_type must be 'web' or 'native'.", ClientApplicationType.Web),
        };
        var implicitConsent = Consent switch
        {
            null or "explicit" => false,
            "implicit" => true,
            _ => Problem(problems, "consent", "consent must be 'explicit' or 'implicit'.", false),
        };

        var redirectUris = RedirectUris ?? [];
        var grants = GrantTypes ?? (redirectUris.Count > 0 ? [OpenIddictConstants.GrantTypes.AuthorizationCode, OpenIddictConstants.GrantTypes.RefreshToken] : []);
        foreach (var grant in grants.Where(grant => grant is not (OpenIddictConstants.GrantTypes.AuthorizationCode or OpenIddictConstants.GrantTypes.RefreshToken or OpenIddictConstants.GrantTypes.ClientCredentials)))
        {
            // Note: OAuth 2.1 removed the implicit and password grants; they can't be asked for.
            problems.Add(new("grant_types", $"Grant type '{grant}' is not supported: use authorization_code, refresh_token or client_credentials."));
        }

        var codeFlow = grants.Contains(OpenIddictConstants.GrantTypes.AuthorizationCode);
        if (codeFlow != redirectUris.Count > 0)
        {
            problems.Add(new("grant_types", "authorization_code needs redirect_uris, and redirect_uris need authorization_code."));
        }

        if (grants.Contains(OpenIddictConstants.GrantTypes.RefreshToken) && !codeFlow)
        {
            problems.Add(new("grant_types", "refresh_token is only issued with authorization_code."));
        }

        var registration = new ClientRegistration
        {
            ClientId = clientId,
            DisplayName = DisplayName,
            Kind = kind,
            ApplicationType = applicationType,
            Secret = kind == ClientKind.Confidential ? secret : null,
            RedirectUris = redirectUris,
            PostLogoutRedirectUris = PostLogoutRedirectUris ?? [],
            Scopes = Scopes ?? [],
            AllowClientCredentials = grants.Contains(OpenIddictConstants.GrantTypes.ClientCredentials),
            ImplicitConsent = implicitConsent,
            AccessTokenLifetime = AccessTokenLifetime is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
        };
        return (problems.Count == 0 ? registration : null, problems);
    }

    private static T Problem<T>(List<ClientProblem> problems, string field, string message, T fallback)
    {
        problems.Add(new(field, message));
        return fallback;
    }
}

internal sealed record ClientCreated(
    [property: JsonPropertyName("client_id")] string ClientId,
    [property: JsonPropertyName("client_secret")] string? ClientSecret);
