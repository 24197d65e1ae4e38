using System.Collections.Immutable;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.Accounts;
using OAuthServer.Accounts.Factors;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>
/// How the user proved who they are, for a token: when (OIDC Core §2 auth_time, Unix seconds) and with which
/// methods (RFC 8176 amr). <see cref="InAccessToken"/>: the access token carries them too (RFC 9470 §3), because the
/// request asked for a level, the client requires a second factor, or the token is for the admin API.
/// </summary>
internal sealed record SignInFacts(long? AuthenticatedAt, IReadOnlyCollection<string> Methods, bool InAccessToken)
{
    /// <summary>No sign-in behind the token (token exchange): no auth_time, no amr, no acr.</summary>
    public static SignInFacts None { get; } = new(null, [], false);

    /// <summary>
    /// The facts a code, device code or refresh token carries, so a redemption or a refresh issues what the sign-in
    /// proved (OIDC Core §12.2: a refreshed ID token keeps the original auth_time; amr and acr likewise).
    /// </summary>
    public static SignInFacts Of(ClaimsPrincipal? principal) => new(
        long.TryParse(principal?.GetClaim(Claims.AuthenticationTime), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var seconds) ? seconds : null,
        principal is null ? [] : principal.GetClaims(AuthenticationMethods.Claim),
        principal?.GetClaim(UserIdentities.InAccessTokenClaim) is "true");
}

/// <summary>
/// What a user's tokens say about them: the one builder of the identity that the authorization endpoint signs in
/// and that the token endpoint signs in again on every code and refresh-token redemption, so both issue the same claims.
/// </summary>
internal sealed class UserIdentities(IOpenIddictScopeManager scopes)
{
    /// <summary>
    /// A private claim of codes and refresh tokens (no destination, so never in an access or ID token): the sign-in
    /// facts belong in the access token too, so every refresh keeps putting them there.
    /// </summary>
    public const string InAccessTokenClaim = "oauthserver_authn_in_at";

    public async Task<ClaimsIdentity> BuildAsync(
        User user, ImmutableArray<string> grantedScopes, SignInFacts signIn, CancellationToken cancellationToken)
    {
        var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, user.Id.ToString())
            .SetClaim(Claims.Email, user.Email)
            .SetClaim(Claims.Name, user.Email)
            // OIDC Core §2: auth_time in every ID token, so max_age can be checked by the client too.
            .SetClaim(Claims.AuthenticationTime, signIn.AuthenticatedAt);
        if (signIn.Methods.Count > 0)
        {
            var methods = signIn.Methods.Distinct(StringComparer.Ordinal).ToArray();
            // Note: RFC 8176 §1 and OIDC Core §2: amr is a JSON array even with one value. One claim of the JSON
            // array type is written as an array by the token handler; several string claims would become a bare
            // string when there is only one. OpenIddict's GetClaims reads either form back.
            identity.AddClaim(new Claim(AuthenticationMethods.Claim, JsonSerializer.Serialize(methods), JsonClaimValueTypes.JsonArray));
            identity.SetClaim(Claims.AuthenticationContextReference, AuthenticationMethods.LevelOf(methods));
        }

        if (signIn.InAccessToken)
        {
            identity.SetClaim(InAccessTokenClaim, "true");
        }

        identity.SetScopes(grantedScopes);
        identity.SetResources(await scopes.ListResourcesAsync(grantedScopes, cancellationToken).ToListAsync(cancellationToken));
        identity.SetDestinations(claim => ClaimDestinations(claim, identity, signIn.InAccessToken));
        return identity;
    }

    // Note: personal data only goes where the granted scopes allow it; sub, client_id and scope are always added by
    // OpenIddict. How the user signed in goes into every ID token, and into the access token when a resource server
    // is meant to judge it (RFC 9470 §3: acr and auth_time in the access token).
    private static IEnumerable<string> ClaimDestinations(Claim claim, ClaimsIdentity identity, bool inAccessToken) => claim.Type switch
    {
        Claims.Email when identity.HasScope(Scopes.Email) => [Destinations.AccessToken, Destinations.IdentityToken],
        Claims.Name when identity.HasScope(Scopes.Profile) => [Destinations.AccessToken, Destinations.IdentityToken],
        Claims.Subject => [Destinations.AccessToken, Destinations.IdentityToken],
        Claims.AuthenticationTime or AuthenticationMethods.Claim or Claims.AuthenticationContextReference when inAccessToken
            => [Destinations.AccessToken, Destinations.IdentityToken],
        Claims.AuthenticationTime or AuthenticationMethods.Claim or Claims.AuthenticationContextReference => [Destinations.IdentityToken],
        _ => [],
    };
}
