using System.Text.Json.Serialization;

namespace OAuthServer.Admin;

/// <summary>The client metadata of an RFC 7591 registration request (with OIDC's application_type).</summary>
internal sealed class RegistrationRequest
{
    [JsonPropertyName("redirect_uris")]
    public List<string>? RedirectUris { get; set; }

    [JsonPropertyName("post_logout_redirect_uris")]
    public List<string>? PostLogoutRedirectUris { get; set; }

    [JsonPropertyName("token_endpoint_auth_method")]
    public string? TokenEndpointAuthMethod { get; set; }

    [JsonPropertyName("grant_types")]
    public List<string>? GrantTypes { get; set; }

    [JsonPropertyName("response_types")]
    public List<string>? ResponseTypes { get; set; }

    [JsonPropertyName("client_name")]
    public string? ClientName { get; set; }

    /// <summary>Space-separated, as in RFC 7591 §2.</summary>
    [JsonPropertyName("scope")]
    public string? Scope { get; set; }

    [JsonPropertyName("application_type")]
    public string? ApplicationType { get; set; }

    /// <summary>RFC 7591 §2: a private_key_jwt client's public keys, by value...</summary>
    [JsonPropertyName("jwks")]
    public System.Text.Json.JsonElement? Jwks { get; set; }

    /// <summary>...or by reference.</summary>
    [JsonPropertyName("jwks_uri")]
    public string? JwksUri { get; set; }

    /// <summary>RFC 9449 §5.2.</summary>
    [JsonPropertyName("dpop_bound_access_tokens")]
    public bool? DpopBoundAccessTokens { get; set; }

    /// <summary>RFC 7591 §2: shown to people signing in to the client.</summary>
    [JsonPropertyName("logo_uri")]
    public string? LogoUri { get; set; }

    /// <summary>
    /// This server's extension: every sign-in to the client needs a second factor. Open to registration because it
    /// only ever asks more of a sign-in, never less.
    /// </summary>
    [JsonPropertyName("require_second_factor")]
    public bool? RequireSecondFactor { get; set; }

    [JsonPropertyName("client_uri")]
    public string? ClientUri { get; set; }
}

/// <summary>The RFC 7591 §3.2.1 response: the metadata as registered, and the credentials, shown once.</summary>
internal sealed record RegistrationResponse(
    [property: JsonPropertyName("client_id")] string ClientId,
    [property: JsonPropertyName("client_secret")] string? ClientSecret,
    [property: JsonPropertyName("client_id_issued_at")] long ClientIdIssuedAt,
    [property: JsonPropertyName("client_secret_expires_at")] long? ClientSecretExpiresAt,
    [property: JsonPropertyName("client_name")] string? ClientName,
    [property: JsonPropertyName("redirect_uris")] IReadOnlyList<string> RedirectUris,
    [property: JsonPropertyName("post_logout_redirect_uris")] IReadOnlyList<string> PostLogoutRedirectUris,
    [property: JsonPropertyName("grant_types")] IReadOnlyList<string> GrantTypes,
    [property: JsonPropertyName("response_types")] IReadOnlyList<string> ResponseTypes,
    [property: JsonPropertyName("token_endpoint_auth_method")] string TokenEndpointAuthMethod,
    [property: JsonPropertyName("application_type")] string ApplicationType,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("dpop_bound_access_tokens")] bool DpopBoundAccessTokens = false,
    [property: JsonPropertyName("require_second_factor")] bool RequireSecondFactor = false)
{
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

internal sealed record RegistrationError(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("error_description")] string Description);
