using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.Accounts;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OAuthServer.Protocol.ProtocolResults;

namespace OAuthServer.Protocol;

/// <summary>
/// The token endpoint (OAuth 2.1 §3.2): authorization_code, refresh_token and client_credentials. OpenIddict has
/// already authenticated the client and validated the grant (code, PKCE verifier, refresh token) before this runs;
/// this decides what goes into the new tokens.
/// </summary>
/// <remarks>
/// Pipeline, in order, before this passthrough runs:
/// <list type="number">
/// <item>MalformedRequestMiddleware and RateLimitingMiddleware (with the client-authentication budget that
/// <see cref="ClientAuthenticatedHandler"/> releases once OpenIddict checked the secret).</item>
/// <item>ValidateTokenRequest: <see cref="PkceFormatHandler"/> (the verifier's RFC 7636 shape).</item>
/// <item>Token validation: <see cref="RedeemedTokenReplayHandler"/> (a redeemed code or refresh token revokes its
/// authorization) and the server token keys.</item>
/// <item>ValidateTokenRequest, last: <see cref="Dpop.DpopTokenRequestHandler"/> (the DPoP proof and the code's or
/// refresh token's key binding, RFC 9449).</item>
/// <item>HandleTokenRequest: <see cref="AccountGateHandler"/> (the user may still sign in; threat model 1.3).</item>
/// </list>
/// After it, on the sign-in: <see cref="AtomicTokenRedemptionHandler"/> (one atomic redemption),
/// <see cref="AccessTokenAudienceHandler"/>, <see cref="IdentityTokenRowsHandler"/>; on the response
/// <see cref="TokensIssuedHandler"/>.
/// </remarks>
internal static class TokenEndpoint
{
    public static IEndpointConventionBuilder MapTokenEndpoint(this IEndpointRouteBuilder app) =>
        app.MapPost(ProtocolPaths.Token, ExchangeAsync)
            .DisableAntiforgery()
            .WithName("Token").WithSummary("Token endpoint: authorization_code, refresh_token, client_credentials.");

    private static async Task<IResult> ExchangeAsync(
        HttpContext context, IOpenIddictApplicationManager applications, IOpenIddictScopeManager scopes, AdmittedUser admitted, UserIdentities identities,
        Exchange.TokenExchangeSignIn exchanges)
    {
        var request = context.GetOpenIddictServerRequest()
            ?? throw new InvalidOperationException("The OpenIddict server request is missing.");

        // Note: RFC 8693: OpenIddict and Exchange/TokenExchangeRequestHandler have validated and decided everything.
        if (request.IsTokenExchangeGrantType())
        {
            return await exchanges.SignInAsync(request, context.RequestAborted);
        }

        // Note: a device code (RFC 8628) carries the identity the user approved at the verification page, like a code.
        if (request.IsAuthorizationCodeGrantType() || request.IsRefreshTokenGrantType() || request.IsDeviceCodeGrantType())
        {
            var result = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
            // Note: AccountGateHandler has already refused a user who may not sign in now (threat model 1.3); this
            // is the user it loaded and admitted.
            var user = admitted.AdmittedFor(result.Principal?.GetClaim(Claims.Subject));

            // Note: a user who is no longer an administrator gets no more admin tokens from an older sign-in; the
            // admin API checks it again on every request (the row, never the token, says who is an administrator).
            if (result.Principal!.HasScope(Admin.AdminScopes.Admin) && !user.IsAdministrator)
            {
                return Forbid(Errors.InvalidGrant, "The user is not an administrator.");
            }

            // OIDC Core §12.2: a refreshed ID token keeps the time and the methods of the original sign-in.
            var identity = await identities.BuildAsync(user, result.Principal!.GetScopes(), SignInFacts.Of(result.Principal), context.RequestAborted);
            identity.SetAuthorizationId(result.Principal!.GetAuthorizationId());
            return Results.SignIn(new ClaimsPrincipal(identity), null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        }

        if (request.IsClientCredentialsGrantType())
        {
            // Note: OpenIddict only lets confidential clients with the client_credentials permission get here.
            var application = await applications.FindByClientIdAsync(request.ClientId!, context.RequestAborted)
                ?? throw new InvalidOperationException("The client was validated by OpenIddict but can't be found.");

            var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
            identity.SetClaim(Claims.Subject, await applications.GetClientIdAsync(application, context.RequestAborted));
            identity.SetClaim(Claims.Name, await applications.GetDisplayNameAsync(application, context.RequestAborted));
            identity.SetScopes(request.GetScopes());
            identity.SetResources(await scopes.ListResourcesAsync(identity.GetScopes(), context.RequestAborted).ToListAsync(context.RequestAborted));
            identity.SetDestinations(static claim => [Destinations.AccessToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        }

        // Unreachable: OpenIddict rejects every grant type that was not allowed above.
        return Forbid(Errors.UnsupportedGrantType, "The grant type is not supported.");
    }
}
