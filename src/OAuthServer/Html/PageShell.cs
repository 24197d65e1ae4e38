using System.Text;
using Microsoft.Extensions.Localization;

namespace OAuthServer.Html;

/// <summary>The result <see cref="HtmlPage.Render"/> returns: the page shell around a page's own content.</summary>
internal sealed class PageShell(string title, string body, int statusCode) : IResult, IStatusCodeHttpResult, IContentTypeHttpResult
{
    public int? StatusCode => statusCode;

    public string ContentType => "text/html; charset=utf-8";

    public string Title => title;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var services = httpContext.RequestServices;
        var assets = services.GetRequiredService<SiteAssets>();
        var text = services.GetRequiredService<IStringLocalizer<PageShell>>();
        var branding = assets.Branding;
        var product = HtmlPage.Encode(branding.ProductName);
        var logo = branding.LogoUrl is { } logoUrl
            ? $"<img src=\"{HtmlPage.Encode(logoUrl)}\" alt=\"\">"
            : string.Empty;
        var overrides = assets.OverridesUrl is { } overridesUrl
            ? $"\n  <link rel=\"stylesheet\" href=\"{HtmlPage.Encode(overridesUrl)}\">"
            : string.Empty;
        var support = branding.SupportUrl is { } supportUrl
            ? $"<p><a href=\"{HtmlPage.Encode(supportUrl)}\">{HtmlPage.Encode(text["Support"])}</a></p>"
            : string.Empty;

        var html = $$"""
            <!doctype html>
            <html lang="{{HtmlPage.Encode(HtmlPage.Language())}}">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>{{HtmlPage.Encode(title)}} · {{product}}</title>
              <link rel="stylesheet" href="{{HtmlPage.Encode(assets.StylesheetUrl)}}">{{overrides}}
            </head>
            <body>
            <header class="site-header">{{logo}}<span class="site-name">{{product}}</span>{{assets.Overrides.Header}}</header>
            <main>
            <h1>{{HtmlPage.Encode(title)}}</h1>
            {{body}}
            </main>
            <footer class="site-footer">{{support}}{{assets.Overrides.Footer}}</footer>
            </body>
            </html>
            """;

        var response = httpContext.Response;
        response.StatusCode = statusCode;
        response.ContentType = ContentType;
        response.Headers.ContentSecurityPolicy = Security.BrowserSecurity.PageContentSecurityPolicyWith(HtmlPage.FormTargets(httpContext), HtmlPage.OwnScriptAllowed(httpContext));
        // Note: pages carry antiforgery tokens and personal details: no cache may keep them.
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentLanguage = HtmlPage.Language();
        var bytes = Encoding.UTF8.GetBytes(html);
        response.ContentLength = bytes.Length;
        await response.Body.WriteAsync(bytes, httpContext.RequestAborted);
    }
}
