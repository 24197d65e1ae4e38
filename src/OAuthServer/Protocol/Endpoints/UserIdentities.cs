using System.Collections.Immutable;
using System.Security.Claims;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.Accounts;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>
/// What a user's tokens say about them: the one builder of the identity that the authorization endpoint signs in
/// and that the token endpoint signs in again on every code and refresh-token redemption, so both issue the same claims.
/// </summary>
internal sealed class UserIdentities(IOpenIddictScopeManager scopes)
{
    public async Task<ClaimsIdentity> BuildAsync(
        User user, ImmutableArray<string> grantedScopes, long? authenticatedAt, CancellationToken cancellationToken)
    {
        var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, user.Id.ToString())
            .SetClaim(Claims.Email, user.Email)
            .SetClaim(Claims.Name, user.Email)
            // OIDC Core §2: auth_time in every ID token, so max_age can be checked by the client too.
            .SetClaim(Claims.AuthenticationTime, authenticatedAt);
        identity.SetScopes(grantedScopes);
        identity.SetResources(await scopes.ListResourcesAsync(grantedScopes, cancellationToken).ToListAsync(cancellationToken));
        identity.SetDestinations(claim => ClaimDestinations(claim, identity));
        return identity;
    }

    // Note: personal data only goes where the granted scopes allow it; sub, client_id and scope are always added by OpenIddict.
    private static IEnumerable<string> ClaimDestinations(Claim claim, ClaimsIdentity identity) => claim.Type switch
    {
        Claims.Email when identity.HasScope(Scopes.Email) => [Destinations.AccessToken, Destinations.IdentityToken],
        Claims.Name when identity.HasScope(Scopes.Profile) => [Destinations.AccessToken, Destinations.IdentityToken],
        Claims.Subject => [Destinations.AccessToken, Destinations.IdentityToken],
        Claims.AuthenticationTime => [Destinations.IdentityToken],
        _ => [],
    };
}
