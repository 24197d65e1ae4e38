using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using OAuthServer.Html;
using OAuthServer.Protocol;
using OpenIddict.Abstractions;
using OAuthServer.Events;
using OAuthServer.Security;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Accounts;

/// <summary>The account pages' routes; the consent page (the sign-in and sign-out pages have their own files).</summary>
internal static class AccountPages
{
    /// <summary>The sign-in failure message, in English (the page shows it in the person's language).</summary>
    public const string LoginFailedMessage = "Invalid email or password.";

    /// <summary>Set on the authorize URL by the consent page when the user said no.</summary>
    public const string ConsentDeniedParameter = "consent_denied";

    // Note: classes with settable properties, not positional records: a browser may leave a field out, and a
    // missing field must bind as null rather than fail the whole form with 400.
    public sealed class ConsentForm
    {
        public string? Decision { get; set; }

        public string? ReturnUrl { get; set; }

        public string? ClientId { get; set; }

        public string? Scope { get; set; }
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        LoginPage.Map(app);
        LogoutPage.Map(app);
        app.MapGet(ProtocolPaths.Consent, ShowConsentAsync).WithName("ConsentPage").WithSummary("Asks the user to approve a client.")
            .RequireAuthorization();
        app.MapPost(ProtocolPaths.Consent, ConsentAsync).WithName("Consent").WithSummary("Records the user's consent decision.")
            .RequireAuthorization();
    }

    private static async Task<IResult> ShowConsentAsync(
        HttpContext context, IAntiforgery antiforgery, IOpenIddictApplicationManager applications,
        [FromQuery] string? returnUrl, [FromQuery(Name = "client_id")] string? clientId, [FromQuery] string? scope)
    {
        var safeReturnUrl = ReturnUrls.Safe(returnUrl);
        var scopes = SplitScopes(scope);
        var application = clientId is null ? null : await applications.FindByClientIdAsync(clientId, context.RequestAborted);
        if (application is null)
        {
            return HtmlPage.Render("Nothing to approve", "<p>This consent request is not valid.</p>", StatusCodes.Status400BadRequest);
        }

        var name = await applications.GetDisplayNameAsync(application, context.RequestAborted) ?? clientId;
        // Note: the consent POST ends, through the authorization endpoint, at the client's redirect URI.
        HtmlPage.AllowFormRedirectsTo(context, await applications.GetRedirectUrisAsync(application, context.RequestAborted));
        var scopeList = string.Concat(scopes.Select(scope => $"<li>{HtmlPage.Encode(scope)}</li>"));
        return HtmlPage.Render("Allow access?", $"""
            <p><strong>{HtmlPage.Encode(name)}</strong> asks to access your account with these scopes:</p>
            <ul class="scopes">{scopeList}</ul>
            <form method="post" action="{ProtocolPaths.Consent}">
              {HtmlPage.AntiforgeryField(antiforgery, context)}
              <input type="hidden" name="returnUrl" value="{HtmlPage.Encode(safeReturnUrl)}">
              <input type="hidden" name="clientId" value="{HtmlPage.Encode(clientId)}">
              <input type="hidden" name="scope" value="{HtmlPage.Encode(scope)}">
              <button type="submit" name="decision" value="accept">Allow</button>
              <button type="submit" name="decision" value="deny">Deny</button>
            </form>
            """);
    }

    private static async Task<IResult> ConsentAsync(
        HttpContext context, IOpenIddictApplicationManager applications, IOpenIddictAuthorizationManager authorizations,
        BrowserSession session, [FromForm] ConsentForm form)
    {
        var returnUrl = ReturnUrls.Safe(form.ReturnUrl);
        var scopes = SplitScopes(form.Scope);
        var application = form.ClientId is null ? null : await applications.FindByClientIdAsync(form.ClientId, context.RequestAborted);
        // Note: threat model 1.3: a session cookie outlives a disable, an operator lock or a password change, and
        // such a session must not record a standing consent either.
        var user = await session.CurrentUserAsync(context.User, context.RequestAborted);
        if (application is null || user is null)
        {
            return HtmlPage.Render("Nothing to approve", "<p>This consent request is not valid.</p>", StatusCodes.Status400BadRequest);
        }

        if (form.Decision != "accept")
        {
            return Results.LocalRedirect(QueryHelpers.AddQueryString(returnUrl, ConsentDeniedParameter, "1"));
        }

        // Note: if the scopes were tampered with, the authorize endpoint finds no matching consent and asks again.
        // The standing consent is a permanent authorization for exactly the scopes that were shown.
        var identity = new ClaimsIdentity(context.User.Claims, CookieAuthenticationDefaults.AuthenticationScheme);
        await authorizations.CreateAsync(
            new ClaimsPrincipal(identity), user.Id.ToString(), (await applications.GetIdAsync(application, context.RequestAborted))!,
            AuthorizationTypes.Permanent, [.. scopes], context.RequestAborted);
        return Results.LocalRedirect(returnUrl);
    }

    private static string[] SplitScopes(string? scope) => (scope ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
