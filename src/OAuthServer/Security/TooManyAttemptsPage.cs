using System.Globalization;
using Microsoft.Extensions.Localization;
using OAuthServer.Html;

namespace OAuthServer.Security;

/// <summary>The page a person sees when the sign-in budget of their address or account is spent (429).</summary>
internal sealed class TooManyAttemptsPage
{
    public static IResult Render(HttpContext context, int retryAfterSeconds)
    {
        var text = context.RequestServices.GetRequiredService<IStringLocalizer<TooManyAttemptsPage>>();
        var wait = text["Wait", retryAfterSeconds.ToString(CultureInfo.InvariantCulture)];
        return HtmlPage.Render(text["Title"],
            $"""
            <p class="error" role="alert" tabindex="-1" autofocus>{HtmlPage.Encode(wait)}</p>
            <p>{HtmlPage.Encode(text["Why"])}</p>
            """,
            StatusCodes.Status429TooManyRequests);
    }
}
