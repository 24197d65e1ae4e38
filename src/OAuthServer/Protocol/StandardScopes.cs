using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>
/// The OpenID Connect scopes every server has (OIDC Core §5.4, §11); every other scope names an API (its resource).
/// OpenIddict registers these, and the client rules let any client ask for them.
/// </summary>
internal static class StandardScopes
{
    public static IReadOnlyList<string> All { get; } = [Scopes.OpenId, Scopes.Profile, Scopes.Email, Scopes.OfflineAccess];

    private static readonly HashSet<string> Set = new(All, StringComparer.Ordinal);

    public static bool Contains(string scope) => Set.Contains(scope);
}
