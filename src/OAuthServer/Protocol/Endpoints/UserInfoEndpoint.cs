using Microsoft.AspNetCore.Authentication;
using OAuthServer.Accounts;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>
/// The userinfo endpoint (OIDC Core §5.3): the claims about the token's user that its scopes allow.
/// </summary>
/// <remarks>
/// Pipeline, in order, before this passthrough runs:
/// <list type="number">
/// <item>MalformedRequestMiddleware and RateLimitingMiddleware.</item>
/// <item>ValidateUserInfoRequest: OpenIddict validates the access token (signature, lifetime, its entry still
/// valid), then <see cref="UserInfoRequiresUserHandler"/> (the token names a user, not a client), then
/// <see cref="AccountGateHandler"/> (the user may still be issued anything; threat model 1.3), then
/// <see cref="Dpop.DpopUserInfoHandler"/> (a DPoP-bound token only with the DPoP scheme and a proof, RFC 9449 §7).</item>
/// </list>
/// </remarks>
internal static class UserInfoEndpoint
{
    public static IEndpointConventionBuilder MapUserInfoEndpoint(this IEndpointRouteBuilder app) =>
        app.MapMethods(ProtocolPaths.UserInfo, [HttpMethods.Get, HttpMethods.Post], UserInfoAsync)
            .DisableAntiforgery()
            .WithName("UserInfo").WithSummary("OpenID Connect userinfo.");

    private static async Task<IResult> UserInfoAsync(HttpContext context, AdmittedUser admitted)
    {
        var principal = (await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme)).Principal
            ?? throw new InvalidOperationException("OpenIddict validated the access token but attached no principal.");
        // Note: AccountGateHandler has already refused a user who may not be issued anything now; this is the user
        // it loaded and admitted.
        var user = admitted.AdmittedFor(principal.GetClaim(Claims.Subject));

        var claims = new Dictionary<string, object>(StringComparer.Ordinal) { [Claims.Subject] = user.Id.ToString() };
        if (principal.HasScope(Scopes.Email))
        {
            claims[Claims.Email] = user.Email;
            claims[Claims.EmailVerified] = false;
        }

        if (principal.HasScope(Scopes.Profile))
        {
            claims[Claims.Name] = user.Email;
        }

        return Results.Json(claims);
    }
}
