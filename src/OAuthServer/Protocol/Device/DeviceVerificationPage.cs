using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.Extensions.Localization;
using OAuthServer.Accounts;
using OAuthServer.Html;

namespace OAuthServer.Protocol.Device;

/// <summary>
/// What a person sees at the device verification page (RFC 8628 §3.3): the code entry, the question with the
/// client's registered name and the scopes in words, and the outcome, in the person's language.
/// </summary>
internal sealed class DeviceVerificationPage
{
    private DeviceVerificationPage()
    {
    }

    // Note: a GET form: the code alone grants nothing, and OpenIddict reads it from the query like a
    // verification_uri_complete link.
    public static IResult Entry(IStringLocalizer<DeviceVerificationPage> text, bool invalidCode)
    {
        var error = invalidCode
            ? $"<p class=\"error\" id=\"code-error\" role=\"alert\" tabindex=\"-1\" autofocus>{HtmlPage.Encode(text["InvalidCode"])}</p>"
            : string.Empty;
        var described = invalidCode ? " aria-describedby=\"code-error\"" : string.Empty;
        return HtmlPage.Render(text["EntryTitle"], $"""
            {error}
            <form method="get" action="{ProtocolPaths.Verification}">
              <label for="user_code">{HtmlPage.Encode(text["CodeLabel"])}</label>
              <input id="user_code" name="user_code" autocomplete="off" autocapitalize="characters" spellcheck="false" required maxlength="40"{described}{(invalidCode ? string.Empty : " autofocus")}>
              <button type="submit">{HtmlPage.Encode(text["Continue"])}</button>
            </form>
            """, invalidCode ? StatusCodes.Status400BadRequest : StatusCodes.Status200OK);
    }

    // Note: RFC 8628 §5.4 (remote phishing): the page names the client as registered, shows the code, and warns
    // against a code someone else supplied; only the antiforgery-protected POST decides.
    public static IResult Confirm(
        IStringLocalizer<DeviceVerificationPage> text, IAntiforgery antiforgery, HttpContext context, string clientName, string userCode, IReadOnlyList<ScopeText> scopes)
    {
        var body = new StringBuilder();
        body.Append($"<p id=\"asks\">{HtmlPage.Encode(text["Asks", clientName])}</p>");
        ScopeWording.AppendList(body, scopes, "asks");
        body.Append($"""
            <p><strong>{HtmlPage.Encode(text["CodeIs", userCode])}</strong> {HtmlPage.Encode(text["PhishingWarning"])}</p>
            <form method="post" action="{ProtocolPaths.Verification}">
              {HtmlPage.AntiforgeryField(antiforgery, context)}
              <input type="hidden" name="user_code" value="{HtmlPage.Encode(userCode)}">
              <button type="submit" name="decision" value="accept">{HtmlPage.Encode(text["Allow"])}</button>
              <button type="submit" name="decision" value="deny">{HtmlPage.Encode(text["Deny"])}</button>
            </form>
            """);
        return HtmlPage.Render(text["ConfirmTitle"], body.ToString());
    }

    public static IResult Outcome(IStringLocalizer<DeviceVerificationPage> text, bool approved) => approved
        ? HtmlPage.Render(text["ApprovedTitle"], $"<p role=\"status\">{HtmlPage.Encode(text["ApprovedBody"])}</p>")
        : HtmlPage.Render(text["DeniedTitle"], $"<p role=\"status\">{HtmlPage.Encode(text["DeniedBody"])}</p>");
}
