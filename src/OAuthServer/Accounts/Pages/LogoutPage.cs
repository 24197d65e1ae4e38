using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Localization;
using OAuthServer.Html;
using OAuthServer.Protocol;

namespace OAuthServer.Accounts;

/// <summary>The sign-out form's answer.</summary>
internal sealed class LogoutPage
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost(ProtocolPaths.Logout, LogoutAsync).WithName("Logout").WithSummary("Ends the session.");

    private static async Task<IResult> LogoutAsync(HttpContext context, IAntiforgery antiforgery, IStringLocalizer<LogoutPage> text)
    {
        // Note: the form binds no fields, so the antiforgery token is checked here: another site can't log users out.
        await antiforgery.ValidateRequestAsync(context);
        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return HtmlPage.Render(text["Title"], $"<p>{HtmlPage.Encode(text["Done"])}</p>");
    }
}
