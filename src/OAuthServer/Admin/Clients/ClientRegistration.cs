using System.Text.Json.Serialization;

namespace OAuthServer.Admin;

internal enum ClientKind
{
    Public,
    Confidential,
}

/// <summary>OpenID Connect's application_type: a native app may use private-use redirect schemes.</summary>
internal enum ClientApplicationType
{
    Web,
    Native,
}

/// <summary>
/// What is asked for when registering a client, by any path; <see cref="ClientRules"/> decides whether it is allowed.
/// </summary>
internal sealed record ClientRegistration
{
    public required string ClientId { get; init; }

    public string? DisplayName { get; init; }

    public ClientKind Kind { get; init; }

    public ClientApplicationType ApplicationType { get; init; }

    public string? Secret { get; init; }

    public IReadOnlyList<string> RedirectUris { get; init; } = [];

    public IReadOnlyList<string> PostLogoutRedirectUris { get; init; } = [];

    public IReadOnlyList<string> Scopes { get; init; } = [];

    /// <summary>
    /// The grant types asked for by name (the admin API's and RFC 7591's <c>grant_types</c>). Null: the code flow
    /// with refresh tokens when there are redirect URIs (what the CLI and the seeds ask for).
    /// </summary>
    public IReadOnlyList<string>? GrantTypes { get; init; }

    /// <summary>Adds <c>client_credentials</c> to the grant types: for a confidential client only.</summary>
    public bool AllowClientCredentials { get; init; }

    /// <summary>
    /// Adds the device_code grant (RFC 8628) with refresh_token: for TVs and CLIs, which sign in on another screen.
    /// </summary>
    public bool AllowDeviceCode { get; init; }

    /// <summary>Implicit consent skips the consent page: for first-party apps only.</summary>
    public bool ImplicitConsent { get; init; }

    public TimeSpan? AccessTokenLifetime { get; init; }

    /// <summary>
    /// private_key_jwt (RFC 7523): the client's public keys as a JWKS document (RFC 7517), or the URL it serves them
    /// at. A client with keys is confidential and has no secret.
    /// </summary>
    public string? Jwks { get; init; }

    public string? JwksUri { get; init; }

    public bool UsesKeys => Jwks is not null || JwksUri is not null;

    /// <summary>
    /// RFC 8693: the audiences (names) and resources (absolute URIs) this client may exchange a user's token for.
    /// Empty: the client may not use token exchange at all.
    /// </summary>
    public IReadOnlyList<string> TokenExchangeAudiences { get; init; } = [];

    /// <summary>How long a retried refresh gets the same successor (null: the server's <c>Tokens:RefreshRetryWindow</c>).</summary>
    public TimeSpan? RefreshRetryWindow { get; init; }

    /// <summary>RFC 9449 §5.2: every token request of this client must carry a DPoP proof.</summary>
    public bool DpopBoundAccessTokens { get; init; }

    /// <summary>
    /// Every sign-in to this client needs a second factor (acr <c>urn:oauthserver:acr:mfa</c> or more), whatever its
    /// requests' acr_values say: the authorization endpoint asks for one before it issues a code.
    /// </summary>
    public bool RequireSecondFactor { get; init; }

    /// <summary>RFC 7591 §2 <c>logo_uri</c>: the client's logo, shown on the sign-in and consent pages.</summary>
    public string? LogoUri { get; init; }

    /// <summary>RFC 7591 §2 <c>client_uri</c>: the client's home page, linked from the sign-in and consent pages.</summary>
    public string? ClientUri { get; init; }
}

/// <summary>A client as the admin API shows it: never its secret.</summary>
internal sealed record ClientView(
    [property: JsonPropertyName("client_id")] string ClientId,
    [property: JsonPropertyName("display_name")] string? DisplayName,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("application_type")] string ApplicationType,
    [property: JsonPropertyName("redirect_uris")] IReadOnlyList<string> RedirectUris,
    [property: JsonPropertyName("post_logout_redirect_uris")] IReadOnlyList<string> PostLogoutRedirectUris,
    [property: JsonPropertyName("grant_types")] IReadOnlyList<string> GrantTypes,
    [property: JsonPropertyName("scopes")] IReadOnlyList<string> Scopes,
    [property: JsonPropertyName("consent")] string Consent,
    [property: JsonPropertyName("access_token_lifetime")] int? AccessTokenLifetime,
    [property: JsonPropertyName("token_exchange_audiences")] IReadOnlyList<string> TokenExchangeAudiences,
    [property: JsonPropertyName("refresh_retry_window")] int? RefreshRetryWindow,
    [property: JsonPropertyName("dpop_bound_access_tokens")] bool DpopBoundAccessTokens = false,
    [property: JsonPropertyName("require_second_factor")] bool RequireSecondFactor = false)
{
    /// <summary><c>private_key_jwt</c> for a client that authenticates with keys; absent otherwise.</summary>
    [JsonPropertyName("token_endpoint_auth_method")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TokenEndpointAuthMethod { get; init; }

    /// <summary>A private_key_jwt client's public keys (never anything private: only public keys are accepted).</summary>
    [JsonPropertyName("jwks")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public System.Text.Json.JsonElement? Jwks { get; init; }

    [JsonPropertyName("jwks_uri")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? JwksUri { get; init; }

    [JsonPropertyName("logo_uri")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? LogoUri { get; init; }

    [JsonPropertyName("client_uri")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ClientUri { get; init; }
}
