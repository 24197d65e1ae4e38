using System.Text.RegularExpressions;

namespace OAuthServer.Html;

/// <summary>
/// The operator's overrides folder: an extra stylesheet and header/footer fragments. The fragments go into every
/// page unencoded, so they are checked once at start-up against what the page CSP forbids anyway (script, event
/// handlers, javascript: URLs, inline style) and against what could take the page's forms (form, base, frames):
/// a fragment that breaks a rule stops the server with the file and the rule named, rather than failing silently
/// in browsers.
/// </summary>
internal sealed partial class PageOverrides
{
    public const string StylesheetFile = "site.css";
    public const string HeaderFile = "header.html";
    public const string FooterFile = "footer.html";

    private const int MaxFileBytes = 64 * 1024;

    public static readonly PageOverrides None = new(null, string.Empty, string.Empty);

    private PageOverrides(string? stylesheet, string header, string footer)
    {
        Stylesheet = stylesheet;
        Header = header;
        Footer = footer;
    }

    /// <summary>The extra CSS, served at <see cref="SiteAssets.OverridesPath"/>; null when there is none.</summary>
    public string? Stylesheet { get; }

    public string Header { get; }

    public string Footer { get; }

    /// <summary>Reads and checks the folder; throws <see cref="InvalidOperationException"/> naming what is wrong.</summary>
    public static PageOverrides Load(string? folder)
    {
        if (string.IsNullOrEmpty(folder))
        {
            return None;
        }

        if (!Directory.Exists(folder))
        {
            throw new InvalidOperationException($"Branding:OverridesPath '{folder}' is not a folder.");
        }

        var stylesheet = Read(folder, StylesheetFile);
        if (stylesheet is not null && (stylesheet.Contains("</", StringComparison.Ordinal) || ExpressionPattern().IsMatch(stylesheet)))
        {
            throw new InvalidOperationException($"Branding:OverridesPath: {StylesheetFile} must be plain CSS (no markup, no expression(), no javascript: URLs).");
        }

        return new PageOverrides(stylesheet, CheckFragment(folder, HeaderFile), CheckFragment(folder, FooterFile));
    }

    private static string CheckFragment(string folder, string file)
    {
        var html = Read(folder, file) ?? string.Empty;
        string? rule = null;
        if (ForbiddenElementPattern().Match(html) is { Success: true } element)
        {
            rule = $"the <{element.Groups[1].Value.ToLowerInvariant()}> element is not allowed";
        }
        else if (EventHandlerPattern().IsMatch(html))
        {
            rule = "event handler attributes (on...=) are not allowed";
        }
        else if (StyleAttributePattern().IsMatch(html))
        {
            rule = "style attributes are not allowed (the page CSP refuses inline style; put it in site.css)";
        }
        else if (ExpressionPattern().IsMatch(html) || html.Contains("&#", StringComparison.Ordinal))
        {
            rule = "javascript:/vbscript:/data: URLs and numeric character references are not allowed";
        }

        return rule is null ? html : throw new InvalidOperationException($"Branding:OverridesPath: {file}: {rule}.");
    }

    private static string? Read(string folder, string file)
    {
        var path = Path.Combine(folder, file);
        if (!File.Exists(path))
        {
            return null;
        }

        if (new FileInfo(path).Length > MaxFileBytes)
        {
            throw new InvalidOperationException($"Branding:OverridesPath: {file} is larger than {MaxFileBytes / 1024} KiB.");
        }

        return File.ReadAllText(path);
    }

    [GeneratedRegex(@"<\s*/?\s*(script|style|iframe|frame|frameset|object|embed|applet|base|form|input|button|textarea|select|meta|link|svg|math|template)\b", RegexOptions.IgnoreCase)]
    private static partial Regex ForbiddenElementPattern();

    [GeneratedRegex(@"[\s/""']on[a-z]+\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex EventHandlerPattern();

    [GeneratedRegex(@"[\s/""']style\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex StyleAttributePattern();

    [GeneratedRegex(@"(java|vb)script\s*:|data\s*:|expression\s*\(|@import", RegexOptions.IgnoreCase)]
    private static partial Regex ExpressionPattern();
}
