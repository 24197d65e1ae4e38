using System.Text.Json.Serialization;

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

    /// <summary><c>client_secret_basic</c> (a confidential client's default) or <c>private_key_jwt</c> (with jwks or jwks_uri).</summary>
    [JsonPropertyName("token_endpoint_auth_method")]
    public string? TokenEndpointAuthMethod { get; set; }

    /// <summary>A private_key_jwt client's public keys, a JWKS (RFC 7517).</summary>
    [JsonPropertyName("jwks")]
    public System.Text.Json.JsonElement? Jwks { get; set; }

    [JsonPropertyName("jwks_uri")]
    public string? JwksUri { get; set; }

    /// <summary>Whether the client authenticates with keys, and so gets no secret.</summary>
    public bool UsesKeys => TokenEndpointAuthMethod == "private_key_jwt";

    /// <summary>RFC 8693: the audiences (names) or resources (absolute URIs) this client may exchange tokens for.</summary>
    [JsonPropertyName("token_exchange_audiences")]
    public List<string>? TokenExchangeAudiences { get; set; }

    /// <summary>Seconds during which a retried refresh gets the same successor; 0 turns it off for this client.</summary>
    [JsonPropertyName("refresh_retry_window")]
    public int? RefreshRetryWindow { get; set; }

    /// <summary>RFC 9449 §5.2: the client must send a DPoP proof with every token request.</summary>
    [JsonPropertyName("dpop_bound_access_tokens")]
    public bool? DpopBoundAccessTokens { get; set; }

    /// <summary>Every sign-in to the client needs a second factor (acr mfa), whatever the request asks for.</summary>
    [JsonPropertyName("require_second_factor")]
    public bool? RequireSecondFactor { get; set; }

    /// <summary>RFC 7591 §2: the client's logo, shown to people signing in to it (absolute https).</summary>
    [JsonPropertyName("logo_uri")]
    public string? LogoUri { get; set; }

    /// <summary>RFC 7591 §2: the client's home page, linked from the sign-in and consent pages (absolute https).</summary>
    [JsonPropertyName("client_uri")]
    public string? ClientUri { get; set; }

    /// <summary>
    /// The registration this request asks for, or the words that name nothing (a type that is neither public nor
    /// confidential...). Only a translation: whether the registration is allowed is for <see cref="ClientRules"/>.
    /// The API never takes a secret from the caller: confidential clients get a server-generated one.
    /// </summary>
    public Outcome<ClientRegistration> ToRegistration(string clientId, string? secret)
    {
        var problems = new List<Problem>();
        var kind = Type switch
        {
            "public" => ClientKind.Public,
            "confidential" => ClientKind.Confidential,
            _ => Unknown(problems, "type", "type must be 'public' or 'confidential'.", ClientKind.Public),
        };
        var applicationType = ApplicationType switch
        {
            null or "web" => ClientApplicationType.Web,
            "native" => ClientApplicationType.Native,
            _ => Unknown(problems, "application_type", "application_type must be 'web' or 'native'.", ClientApplicationType.Web),
        };
        var implicitConsent = Consent switch
        {
            null or "explicit" => false,
            "implicit" => true,
            _ => Unknown(problems, "consent", "consent must be 'explicit' or 'implicit'.", false),
        };

        if (TokenEndpointAuthMethod is not (null or "client_secret_basic" or "client_secret_post" or "private_key_jwt" or "none"))
        {
            problems.Add(OAuthServer.Problem.Invalid("token_endpoint_auth_method", "token_endpoint_auth_method must be client_secret_basic, client_secret_post, private_key_jwt or none."));
        }
        else if (UsesKeys != (Jwks is not null || JwksUri is not null))
        {
            problems.Add(OAuthServer.Problem.Invalid("token_endpoint_auth_method", "private_key_jwt needs jwks or jwks_uri, and jwks or jwks_uri need private_key_jwt."));
        }

        if (problems.Count > 0)
        {
            return Outcome<ClientRegistration>.Failed(problems);
        }

        return new ClientRegistration
        {
            ClientId = clientId,
            DisplayName = DisplayName,
            Kind = kind,
            ApplicationType = applicationType,
            Secret = kind == ClientKind.Confidential ? secret : null,
            RedirectUris = RedirectUris ?? [],
            PostLogoutRedirectUris = PostLogoutRedirectUris ?? [],
            GrantTypes = GrantTypes,
            Scopes = Scopes ?? [],
            ImplicitConsent = implicitConsent,
            AccessTokenLifetime = AccessTokenLifetime is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            Jwks = Jwks is { ValueKind: not System.Text.Json.JsonValueKind.Null } jwks ? jwks.GetRawText() : null,
            JwksUri = JwksUri,
            TokenExchangeAudiences = TokenExchangeAudiences ?? [],
            RefreshRetryWindow = RefreshRetryWindow is { } retry ? TimeSpan.FromSeconds(retry) : null,
            DpopBoundAccessTokens = DpopBoundAccessTokens ?? false,
            RequireSecondFactor = RequireSecondFactor ?? false,
            LogoUri = LogoUri,
            ClientUri = ClientUri,
        };
    }

    private static T Unknown<T>(List<Problem> problems, string field, string message, T fallback)
    {
        problems.Add(OAuthServer.Problem.Invalid(field, message));
        return fallback;
    }
}

internal sealed record ClientCreated(
    [property: JsonPropertyName("client_id")] string ClientId,
    [property: JsonPropertyName("client_secret")] string? ClientSecret);
