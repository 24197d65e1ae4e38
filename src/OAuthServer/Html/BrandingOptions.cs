using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace OAuthServer.Html;

/// <summary>How the server's pages look: names, logo, colours and an optional folder of overrides.</summary>
internal sealed class BrandingOptions
{
    public const string Section = "Branding";

    /// <summary>Shown in every page title and header.</summary>
    public string ProductName { get; set; } = "OAuthServer";

    /// <summary>An absolute https URL or a site-relative path (/...); none shows the product name only.</summary>
    public string? LogoUrl { get; set; }

    /// <summary>Buttons and focus rings, as #rrggbb. White text sits on it, so it needs 4.5:1 against white.</summary>
    public string PrimaryColor { get; set; } = "#1f4fbf";

    /// <summary>Links and headings, as #rrggbb, on the white card: it needs 4.5:1 against white too.</summary>
    public string AccentColor { get; set; } = "#0b5a4a";

    /// <summary>Where a person gets help (https URL, site-relative path or mailto:); shown in the footer.</summary>
    public string? SupportUrl { get; set; }

    /// <summary>
    /// A folder with any of site.css (served after the default stylesheet), header.html and footer.html (fragments
    /// placed above and below every page's content). Read and checked once at start-up.
    /// </summary>
    public string? OverridesPath { get; set; }
}

internal sealed partial class BrandingOptionsValidator : IValidateOptions<BrandingOptions>
{
    public ValidateOptionsResult Validate(string? name, BrandingOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ProductName) || options.ProductName.Length > 100 || options.ProductName.Any(char.IsControl))
        {
            failures.Add("Branding:ProductName must be 1 to 100 printable characters.");
        }

        CheckUrl(options.LogoUrl, "Branding:LogoUrl", allowMailto: false, failures);
        CheckUrl(options.SupportUrl, "Branding:SupportUrl", allowMailto: true, failures);
        CheckColour(options.PrimaryColor, "Branding:PrimaryColor", failures);
        CheckColour(options.AccentColor, "Branding:AccentColor", failures);
        if (options.OverridesPath is { Length: > 0 } path)
        {
            try
            {
                PageOverrides.Load(path);
            }
            catch (InvalidOperationException failure)
            {
                failures.Add(failure.Message);
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>True for an absolute https URL or a site-relative path (one leading slash, no scheme, no host).</summary>
    public static bool IsSafeUrl(string? value, bool allowMailto = false) =>
        value is { Length: > 0 and <= 2000 }
        && !value.Any(char.IsControl)
        && !value.Contains('"') && !value.Contains('<') && !value.Contains('>')
        && ((value[0] == '/' && (value.Length == 1 || (value[1] != '/' && value[1] != '\\')))
            || (Uri.TryCreate(value, UriKind.Absolute, out var uri)
                && (uri.Scheme == Uri.UriSchemeHttps || (allowMailto && uri.Scheme == Uri.UriSchemeMailto))));

    private static void CheckUrl(string? value, string key, bool allowMailto, List<string> failures)
    {
        if (value is not null && !IsSafeUrl(value, allowMailto))
        {
            failures.Add($"{key} must be an absolute https URL or a site-relative path starting with a single '/'{(allowMailto ? " (or a mailto: address)" : string.Empty)}.");
        }
    }

    private static void CheckColour(string? value, string key, List<string> failures)
    {
        if (value is null || !ColourPattern().IsMatch(value))
        {
            failures.Add($"{key} must be a colour written as #rrggbb (six hexadecimal digits).");
            return;
        }

        // Note: WCAG 2.2 SC 1.4.3: the colours carry text on or against white, so both need 4.5:1 with white.
        var contrast = ContrastWithWhite(value);
        if (contrast < 4.5)
        {
            failures.Add($"{key} {value} has a contrast of {contrast.ToString("0.00", CultureInfo.InvariantCulture)}:1 with white; WCAG 2.2 AA needs at least 4.5:1 (choose a darker colour).");
        }
    }

    /// <summary>The WCAG contrast ratio of a #rrggbb colour with white.</summary>
    public static double ContrastWithWhite(string colour)
    {
        var luminance = 0.2126 * Channel(colour, 1) + 0.7152 * Channel(colour, 3) + 0.0722 * Channel(colour, 5);
        return 1.05 / (luminance + 0.05);
    }

    private static double Channel(string colour, int start)
    {
        var value = int.Parse(colour.AsSpan(start, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture) / 255.0;
        return value <= 0.04045 ? value / 12.92 : Math.Pow((value + 0.055) / 1.055, 2.4);
    }

    [GeneratedRegex("^#[0-9a-fA-F]{6}$")]
    private static partial Regex ColourPattern();
}
