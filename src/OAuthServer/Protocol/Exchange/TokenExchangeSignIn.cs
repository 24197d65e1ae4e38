using System.Security.Claims;
using OAuthServer.Accounts;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol.Exchange;

/// <summary>
/// The identity of an exchanged token (RFC 8693 §2.2): the subject token's user, with the claims
/// <see cref="UserIdentities"/> gives every token of theirs for the granted scopes, the audiences
/// <see cref="TokenExchangeRequestHandler"/> allowed, and <c>act</c> naming the calling client.
/// </summary>
internal sealed class TokenExchangeSignIn(TokenExchangeDecision decision, AdmittedUser admitted, UserIdentities identities)
{
    public async Task<IResult> SignInAsync(OpenIddictRequest request, CancellationToken cancellationToken)
    {
        if (!decision.Made)
        {
            throw new InvalidOperationException("A token exchange reached the endpoint without the exchange policy's decision.");
        }

        var user = admitted.AdmittedFor(decision.Subject);
        var identity = await identities.BuildAsync(user, [.. decision.Scopes], SignInFacts.None, cancellationToken);
        identity.SetResources(decision.Audiences);
        // Note: the exchanged token belongs to the subject token's sign-in: a replay or revocation that ends that
        // family ends this token's entry too.
        identity.SetAuthorizationId(decision.AuthorizationId);
        identity.AddClaim("act", decision.Actor(request.ClientId!));
        foreach (var claim in identity.FindAll("act"))
        {
            claim.SetDestinations(Destinations.AccessToken);
        }

        return Results.SignIn(new ClaimsPrincipal(identity), null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }
}
