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
/// valid), then <see cref="UserInfoRequiresUserHandler"/> (the token names a user, not a client).</item>
/// </list>
/// </remarks>
internal static class UserInfoEndpoint
{
    public static IEndpointConventionBuilder MapUserInfoEndpoint(this IEndpointRouteBuilder app) =>
        app.MapMethods(ProtocolPaths.UserInfo, [HttpMethods.Get, HttpMethods.Post], UserInfoAsync)
            .DisableAntiforgery()
            .WithName("UserInfo").WithSummary("OpenID Connect userinfo.");

    private static async Task<IResult> UserInfoAsync(HttpContext context, UserAccounts accounts, AccountGate gate)
    {
        var result = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        var user = await accounts.FindBySubjectAsync(result.Principal?.GetClaim(Claims.Subject), context.RequestAborted);
        if (gate.Check(user) != GateVerdict.Allowed)
        {
            return Results.Challenge(
                new AuthenticationProperties(new Dictionary<string, string?>
                {
                    [OpenIddictServerAspNetCoreConstants.Properties.Error] = Errors.InvalidToken,
                    [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = "The token's user can no longer sign in.",
                }),
                [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
        }

        var claims = new Dictionary<string, object>(StringComparer.Ordinal) { [Claims.Subject] = user!.Id.ToString() };
        var principal = result.Principal!;
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
