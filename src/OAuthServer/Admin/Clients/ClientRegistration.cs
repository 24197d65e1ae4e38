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

    /// <summary>Implicit consent skips the consent page: for first-party apps only.</summary>
    public bool ImplicitConsent { get; init; }

    public TimeSpan? AccessTokenLifetime { get; init; }

    /// <summary>RFC 9449 §5.2: every token request of this client must carry a DPoP proof.</summary>
    public bool DpopBoundAccessTokens { get; init; }
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
    [property: JsonPropertyName("dpop_bound_access_tokens")] bool DpopBoundAccessTokens = false);
