using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Localization;
using OAuthServer.Html;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>
/// The end-session endpoint (OIDC RP-Initiated Logout 1.0): ends the browser session and returns the user to a
/// registered post_logout_redirect_uri.
/// </summary>
/// <remarks>
/// Pipeline, in order, before this passthrough runs:
/// <list type="number">
/// <item>MalformedRequestMiddleware and RateLimitingMiddleware.</item>
/// <item>ValidateEndSessionRequest: OpenIddict's own checks only (the post_logout_redirect_uri is registered for
/// the client; an id_token_hint is validated when given and dropped when it is not valid).</item>
/// </list>
/// No account gate: signing out needs no account in good standing.
/// </remarks>
internal static class EndSessionEndpoint
{
    private const string ConfirmLogoutField = "confirm_logout";

    public static IEndpointConventionBuilder MapEndSessionEndpoint(this IEndpointRouteBuilder app) =>
        app.MapMethods(ProtocolPaths.EndSession, [HttpMethods.Get, HttpMethods.Post], EndSessionAsync)
            .DisableAntiforgery()
            .WithName("EndSession").WithSummary("OpenID Connect RP-initiated logout.");

    // OIDC RP-Initiated Logout §2 and §4: a logout request may come from any site, so the user confirms with an
    // antiforgery-protected form first, unless it carries an id_token_hint that proves the RP's session with this
    // very user. OpenIddict treats the hint as optional: an invalid one (garbage, another issuer's, a bad
    // signature) is dropped without an error, so only the principal it validated counts, never the parameter.
    private static async Task<IResult> EndSessionAsync(HttpContext context, IAntiforgery antiforgery, IStringLocalizerFactory localizers)
    {
        var request = context.GetOpenIddictServerRequest()
            ?? throw new InvalidOperationException("The OpenIddict server request is missing.");
        var confirmed = HttpMethods.IsPost(context.Request.Method) && context.Request.HasFormContentType
            && context.Request.Form.ContainsKey(ConfirmLogoutField);
        if (!confirmed && !await HintNamesSignedInUserAsync(context))
        {
            var fields = string.Concat(request.GetParameters()
                .Where(parameter => !string.IsNullOrEmpty((string?)parameter.Value))
                .Select(parameter => $"<input type=\"hidden\" name=\"{HtmlPage.Encode(parameter.Key)}\" value=\"{HtmlPage.Encode((string?)parameter.Value)}\">"));
            var text = localizers.Create(typeof(EndSessionEndpoint));
            // Note: OpenIddict has checked that the post_logout_redirect_uri is registered for the client; the
            // confirmation's POST ends there.
            if (request.PostLogoutRedirectUri is { } postLogout)
            {
                HtmlPage.AllowFormRedirectsTo(context, [postLogout]);
            }

            return HtmlPage.Render(text["Title"], $"""
                <p>{HtmlPage.Encode(text["Question"])}</p>
                <form method="post" action="{ProtocolPaths.EndSession}">
                  {HtmlPage.AntiforgeryField(antiforgery, context)}
                  {fields}
                  <button type="submit" name="{ConfirmLogoutField}" value="yes">{HtmlPage.Encode(text["Submit"])}</button>
                </form>
                """);
        }

        if (confirmed)
        {
            await antiforgery.ValidateRequestAsync(context);
        }

        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        // Note: OpenIddict only redirects to a post_logout_redirect_uri registered for the client.
        return Results.SignOut(new AuthenticationProperties { RedirectUri = "/" }, [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
    }

    // The hint's subject must be the session's: a valid id_token of another user (or of a user signed in earlier
    // in this browser) does not show that the RP is ending this session. Without a session there is nothing to end.
    private static async Task<bool> HintNamesSignedInUserAsync(HttpContext context)
    {
        var hint = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        if (hint.Principal?.GetClaim(Claims.Subject) is not { Length: > 0 } subject)
        {
            return false;
        }

        var session = await context.AuthenticateAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return !session.Succeeded || string.Equals(session.Principal.FindFirstValue(Claims.Subject), subject, StringComparison.Ordinal);
    }
}
