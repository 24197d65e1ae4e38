using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace OAuthServer.Html;

/// <summary>
/// The stylesheets every page links to. Built once from the branding settings, so the pages need no inline style
/// and the page CSP can say style-src 'self'. Each URL carries a hash of its content, so a cache may keep it for a
/// year and a changed theme is still fetched at once.
/// </summary>
internal sealed class SiteAssets
{
    public const string StylesheetPath = "/assets/site.css";
    public const string OverridesPath = "/assets/overrides.css";

    public SiteAssets(IOptions<BrandingOptions> options)
    {
        var branding = options.Value;
        Branding = branding;
        Overrides = PageOverrides.Load(branding.OverridesPath);
        Stylesheet = Encoding.UTF8.GetBytes(DefaultStylesheet(branding));
        StylesheetUrl = StylesheetPath + "?v=" + Version(Stylesheet);
        if (Overrides.Stylesheet is { } extra)
        {
            OverridesStylesheet = Encoding.UTF8.GetBytes(extra);
            OverridesUrl = OverridesPath + "?v=" + Version(OverridesStylesheet);
        }
    }

    public BrandingOptions Branding { get; }

    public PageOverrides Overrides { get; }

    public byte[] Stylesheet { get; }

    public string StylesheetUrl { get; }

    public byte[]? OverridesStylesheet { get; }

    public string? OverridesUrl { get; }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet(StylesheetPath, (HttpContext context, SiteAssets assets) => Css(context, assets.Stylesheet))
            .ExcludeFromDescription();
        app.MapGet(OverridesPath, (HttpContext context, SiteAssets assets) =>
                assets.OverridesStylesheet is { } css ? Css(context, css) : Results.NotFound())
            .ExcludeFromDescription();
    }

    private static IResult Css(HttpContext context, byte[] css)
    {
        context.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
        return Results.Bytes(css, "text/css; charset=utf-8");
    }

    private static string Version(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content).AsSpan(0, 8));

    // Note: the colours were checked at start-up (#rrggbb, 4.5:1 against white), so they can go into CSS as they are.
    // Every pair below meets WCAG 2.2 AA: body text #1a1a1a on #fff is 17:1, muted #555 on #fff 7.5:1, the error
    // text #8a1c1c on #fdecec 8:1; focus is a 3px outline in the primary colour (SC 2.4.7, 2.4.11).
    private static string DefaultStylesheet(BrandingOptions branding) => $$"""
        :root { --primary: {{branding.PrimaryColor}}; --accent: {{branding.AccentColor}}; --text: #1a1a1a; --muted: #555555; --page: #f3f4f6; --card: #ffffff; --border: #6b7280; }
        *, *::before, *::after { box-sizing: border-box; }
        html { font-size: 100%; }
        body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: var(--text); background: var(--page); margin: 0; }
        .site-header { display: flex; align-items: center; gap: .75rem; max-width: 28rem; margin: 2rem auto 0; padding: 0 1rem; }
        .site-header img { max-height: 2.5rem; max-width: 10rem; }
        .site-name { font-weight: 600; font-size: 1.1rem; color: var(--text); }
        main { max-width: 28rem; margin: 1rem auto; background: var(--card); padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px rgba(0, 0, 0, .15); }
        h1 { font-size: 1.4rem; margin-top: 0; color: var(--text); }
        a { color: var(--accent); text-decoration: underline; }
        label { display: block; margin: 1rem 0 .3rem; font-weight: 600; }
        input[type=email], input[type=password], input[type=text] { width: 100%; padding: .6rem; font: inherit; color: var(--text); background: #fff; border: 1px solid var(--border); border-radius: 4px; }
        button { margin-top: 1.2rem; margin-right: .5rem; padding: .6rem 1.2rem; font: inherit; font-weight: 600; color: #fff; background: var(--primary); border: 2px solid var(--primary); border-radius: 4px; cursor: pointer; }
        button.secondary { color: var(--primary); background: #fff; }
        :focus-visible { outline: 3px solid var(--primary); outline-offset: 2px; }
        .error { color: #8a1c1c; background: #fdecec; border: 1px solid #8a1c1c; padding: .6rem .8rem; border-radius: 4px; }
        .client { display: flex; align-items: center; gap: .75rem; margin-bottom: 1rem; }
        .client img { width: 3rem; height: 3rem; object-fit: contain; }
        .muted, .developer { color: var(--muted); font-size: .9rem; }
        .developer code { color: var(--text); background: var(--page); padding: 0 .25rem; }
        ul.scopes { padding-left: 1.2rem; }
        main { overflow-wrap: break-word; }
        .table-scroll { max-width: 100%; overflow-x: auto; }
        table { border-collapse: collapse; }
        th, td { text-align: left; padding: .25rem .5rem .25rem 0; vertical-align: top; }
        .site-footer { max-width: 28rem; margin: 0 auto 2rem; padding: 0 1rem; font-size: .9rem; color: var(--muted); }
        @media (max-width: 30rem) { main { margin: .5rem; padding: 1.25rem; } .site-header { margin-top: 1rem; } }
        """;
}
