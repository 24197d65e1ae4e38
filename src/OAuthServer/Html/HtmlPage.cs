using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;

namespace OAuthServer.Html;

/// <summary>
/// The server's HTML shell, for every page it shows (sign-in, consent, sign-out, the 429 page): layout, encoding
/// and the antiforgery field. Every value goes through the encoder.
/// </summary>
internal static class HtmlPage
{
    public static string Encode(string? value) => HtmlEncoder.Default.Encode(value ?? string.Empty);

    public static string AntiforgeryField(IAntiforgery antiforgery, HttpContext context)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        return $"<input type=\"hidden\" name=\"{Encode(tokens.FormFieldName)}\" value=\"{Encode(tokens.RequestToken)}\">";
    }

    public static IResult Render(string title, string body, int statusCode = StatusCodes.Status200OK) => Results.Content(
        $$"""
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>{{Encode(title)}} · OAuthServer</title>
          <style>
            body { font-family: system-ui, sans-serif; background: #f5f6f8; margin: 0; }
            main { max-width: 24rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; }
            h1 { font-size: 1.3rem; margin-top: 0; }
            label { display: block; margin: 1rem 0 .3rem; }
            input[type=email], input[type=password] { width: 100%; padding: .5rem; box-sizing: border-box; }
            button { margin-top: 1.2rem; padding: .6rem 1.2rem; }
            .error { color: #a00; background: #fee; padding: .6rem; border-radius: 4px; }
            ul.scopes { padding-left: 1.2rem; }
          </style>
        </head>
        <body><main>
        <h1>{{Encode(title)}}</h1>
        {{body}}
        </main></body>
        </html>
        """,
        "text/html; charset=utf-8",
        statusCode: statusCode);
}
