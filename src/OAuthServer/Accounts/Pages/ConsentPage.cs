using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Localization;
using OAuthServer.Admin;
using OAuthServer.Events;
using OAuthServer.Html;
using OAuthServer.Protocol;
using OpenIddict.Abstractions;

namespace OAuthServer.Accounts;

/// <summary>
/// The consent page: which app asks, and what each requested scope means in words, in the person's language.
/// The decision is recorded as the person's standing grant to the client (<see cref="Grants"/>).
/// </summary>
/// <remarks>
/// Threat model: the GET takes its client and scopes from the query, so it shows only what it was given, encoded,
/// and the client's logo and home page only as registered. What it showed is sealed into the form
/// (<see cref="ConsentTickets"/>) for this person; the POST, antiforgery-checked and bound to a session that is
/// still current, records exactly that or nothing.
/// </remarks>
internal sealed class ConsentPage
{
    private ConsentPage()
    {
    }

    // Note: classes with settable properties, not positional records: a browser may leave a field out, and a
    // missing field must bind as null rather than fail the whole form with 400.
    public sealed class ConsentForm
    {
        public string? Decision { get; set; }

        public string? Ticket { get; set; }
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet(ProtocolPaths.Consent, ShowAsync).WithName("ConsentPage").WithSummary("Asks the user to approve a client.")
            .RequireAuthorization();
        app.MapPost(ProtocolPaths.Consent, DecideAsync).WithName("Consent").WithSummary("Records the user's consent decision.")
            .RequireAuthorization();
    }

    private static async Task<IResult> ShowAsync(
        HttpContext context, IAntiforgery antiforgery, IOpenIddictApplicationManager applications, ClientHeader clients, BrowserSession session, Grants grants,
        ScopeWording wording, ConsentTickets tickets, IStringLocalizer<ConsentPage> text,
        [FromQuery] string? returnUrl, [FromQuery(Name = "client_id")] string? clientId, [FromQuery] string? scope)
    {
        var scopes = SplitScopes(scope);
        var application = clientId is null ? null : await applications.FindByClientIdAsync(clientId, context.RequestAborted);
        var user = await session.CurrentUserAsync(context.User, context.RequestAborted);
        if (application is null || user is null || scopes is null)
        {
            return Invalid(text);
        }

        // Note: the client's name, logo and home page through the one reader the sign-in page uses too, which shows
        // a registered URL only when it is https (or loopback http).
        var face = (await clients.FindAsync(clientId, context.RequestAborted))!;
        // Note: the consent POST ends, through the authorization endpoint, at the client's redirect URI (form-action).
        HtmlPage.AllowFormRedirectsTo(context, face.RedirectUris);
        var applicationId = (await applications.GetIdAsync(application, context.RequestAborted))!;
        var granted = await grants.StandingScopesAsync(user.Id, applicationId, context.RequestAborted);
        var described = await wording.DescribeAsync(scopes, context.RequestAborted);
        var asked = described.Where(item => !granted.Contains(item.Name)).ToList();
        var kept = described.Where(item => granted.Contains(item.Name)).ToList();
        var ticket = tickets.Protect(new ConsentTicket(user.Id, face.ClientId, scopes, ReturnUrls.Safe(returnUrl)));

        var body = new System.Text.StringBuilder();
        body.Append(ClientHeader.Html(face, text["HomeLink", face.DisplayName]));
        body.Append($"<p><strong>{HtmlPage.Encode(face.DisplayName)}</strong></p>");
        if (described.Count == 0)
        {
            body.Append($"<p>{HtmlPage.Encode(text["AsksAccess", face.DisplayName])}</p>");
        }

        if (asked.Count > 0)
        {
            body.Append($"<p id=\"asked\">{HtmlPage.Encode(text["AsksFor", face.DisplayName])}</p>");
            ScopeWording.AppendList(body, asked, "asked");
        }

        if (kept.Count > 0)
        {
            body.Append($"<p id=\"kept\">{HtmlPage.Encode(text["AlreadyAllowed", face.DisplayName])}</p>");
            ScopeWording.AppendList(body, kept, "kept");
        }

        body.Append($"<p>{HtmlPage.Encode(text["RevokeHint"])}</p>");
        body.Append($"""
            <form method="post" action="{ProtocolPaths.Consent}">
              {HtmlPage.AntiforgeryField(antiforgery, context)}
              <input type="hidden" name="{ConsentTickets.FieldName}" value="{HtmlPage.Encode(ticket)}">
              <button type="submit" name="decision" value="accept">{HtmlPage.Encode(text["Allow"])}</button>
              <button type="submit" name="decision" value="deny">{HtmlPage.Encode(text["Deny"])}</button>
            </form>
            """);
        return HtmlPage.Render(text["Title"], body.ToString());
    }

    private static async Task<IResult> DecideAsync(
        HttpContext context, IOpenIddictApplicationManager applications, BrowserSession session, Grants grants, ConsentTickets tickets,
        IStringLocalizer<ConsentPage> text, [FromForm] ConsentForm? form)
    {
        // Note: a post with none of the form's fields binds no form at all; it must be a page, not a 500.
        form ??= new();
        // Note: threat model 1.3: a session cookie outlives a disable, an operator lock or a password change, and
        // such a session must not record a standing consent either. The ticket must be this person's, unaltered.
        var user = await session.CurrentUserAsync(context.User, context.RequestAborted);
        var ticket = tickets.Unprotect(form.Ticket);
        var application = ticket is null ? null : await applications.FindByClientIdAsync(ticket.ClientId, context.RequestAborted);
        if (user is null || ticket is null || ticket.UserId != user.Id || application is null)
        {
            return Invalid(text);
        }

        var returnUrl = ReturnUrls.Safe(ticket.ReturnUrl);
        if (form.Decision != "accept")
        {
            return Results.LocalRedirect(QueryHelpers.AddQueryString(returnUrl, AccountPages.ConsentDeniedParameter, "1"));
        }

        var identity = new ClaimsIdentity(context.User.Claims, CookieAuthenticationDefaults.AuthenticationScheme);
        await grants.RememberAsync(user.Id, new ClaimsPrincipal(identity), application, ticket.Scopes, RequestOrigin.From(context), context.RequestAborted);
        return Results.LocalRedirect(returnUrl);
    }

    private static IResult Invalid(IStringLocalizer<ConsentPage> text) =>
        HtmlPage.Render(text["InvalidTitle"], $"<p class=\"error\" role=\"alert\" tabindex=\"-1\" autofocus>{HtmlPage.Encode(text["InvalidBody"])}</p>", StatusCodes.Status400BadRequest);

    // Note: bounded like a client's own list; a scope that is no RFC 6749 §3.3 token can't have been requested.
    private static string[]? SplitScopes(string? scope)
    {
        var scopes = (scope ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal).ToArray();
        return scopes.Length <= ClientRules.MaxScopes && scopes.All(ClientRules.IsScopeToken) ? scopes : null;
    }
}
