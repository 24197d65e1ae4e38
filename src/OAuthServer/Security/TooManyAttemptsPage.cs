using System.Globalization;
using Microsoft.Extensions.Localization;
using OAuthServer.Html;
using OAuthServer.Protocol;

namespace OAuthServer.Security;

/// <summary>The page a person sees when a budget of a page (sign-in, password reset, account) is spent (429).</summary>
internal sealed class TooManyAttemptsPage
{
    public static IResult Render(HttpContext context, int retryAfterSeconds)
    {
        var text = context.RequestServices.GetRequiredService<IStringLocalizer<TooManyAttemptsPage>>();
        // The sign-in form's budgets guard a password; the other pages' (password reset, the account page) guard
        // the service: a person must be told which it was.
        var signIn = ProtocolPaths.EndpointOf(context)?.Has(EndpointTraits.Login) == true;
        var wait = text[signIn ? "Wait" : "WaitOther", retryAfterSeconds.ToString(CultureInfo.InvariantCulture)];
        return HtmlPage.Render(text["Title"],
            $"""
            <p class="error" role="alert" tabindex="-1" autofocus>{HtmlPage.Encode(wait)}</p>
            <p>{HtmlPage.Encode(text[signIn ? "Why" : "WhyOther"])}</p>
            """,
            StatusCodes.Status429TooManyRequests);
    }
}
