using System.Globalization;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;

namespace OAuthServer.Html;

/// <summary>
/// The server's HTML shell, for every page it shows (sign-in, consent, sign-out, errors, the 429 page): layout,
/// encoding and the antiforgery field. Every value goes through the encoder.
/// </summary>
internal static class HtmlPage
{
    public static string Encode(string? value) => HtmlEncoder.Default.Encode(value ?? string.Empty);

    public static string AntiforgeryField(IAntiforgery antiforgery, HttpContext context)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        return $"<input type=\"hidden\" name=\"{Encode(tokens.FormFieldName)}\" value=\"{Encode(tokens.RequestToken)}\">";
    }

    /// <summary>
    /// A page whose shell (product name, logo, stylesheets, header and footer fragments, the language) is read
    /// from the request's services and culture when the result runs, so callers pass only their own content.
    /// </summary>
    public static IResult Render(string title, string body, int statusCode = StatusCodes.Status200OK) =>
        new PageShell(title, body, statusCode);

    private const string FormTargetsKey = "OAuthServer.Html.FormTargets";

    /// <summary>
    /// Lets this page's forms end, through redirects, at these redirect URIs (registered ones only: the caller
    /// looked them up); see <see cref="Security.BrowserSecurity.PageContentSecurityPolicyWith"/>.
    /// </summary>
    public static void AllowFormRedirectsTo(HttpContext context, IEnumerable<string> redirectUris)
    {
        var targets = context.Items[FormTargetsKey] as HashSet<string> ?? [];
        foreach (var uri in redirectUris)
        {
            if (Security.BrowserSecurity.FormTarget(uri) is { } target)
            {
                targets.Add(target);
            }
        }

        context.Items[FormTargetsKey] = targets;
    }

    internal static IReadOnlyCollection<string> FormTargets(HttpContext context) =>
        context.Items[FormTargetsKey] as HashSet<string> ?? [];

    private const string OwnScriptKey = "OAuthServer.Html.OwnScript";

    /// <summary>
    /// Lets this page run scripts served from our origin (and fetch from it): only pages with a passkey control,
    /// which WebAuthn offers to script alone; every other page keeps script-src 'none'.
    /// </summary>
    public static void AllowOwnScript(HttpContext context) => context.Items[OwnScriptKey] = true;

    internal static bool OwnScriptAllowed(HttpContext context) => context.Items.ContainsKey(OwnScriptKey);

    /// <summary>The language tag of the page, from the request's UI culture (set by request localisation).</summary>
    public static string Language() =>
        CultureInfo.CurrentUICulture is { Name.Length: > 0 } culture ? culture.Name : Localisation.DefaultCulture;
}
