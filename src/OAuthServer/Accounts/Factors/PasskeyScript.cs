using System.Security.Cryptography;

namespace OAuthServer.Accounts.Factors;

/// <summary>
/// The one script the server serves: it drives <c>navigator.credentials</c> for the passkey controls, which WebAuthn
/// offers to script only. Served from our origin with a hash of its content in the URL (cached for a year, like the
/// stylesheet), so a page that shows a passkey control can allow <c>script-src 'self'</c> and nothing inline.
/// </summary>
internal sealed class PasskeyScript
{
    public const string Path = "/assets/passkeys.js";

    private const string ResourceName = "OAuthServer.Accounts.Factors.passkeys.js";

    public PasskeyScript()
    {
        using var stream = typeof(PasskeyScript).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The embedded resource {ResourceName} is missing.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        Content = copy.ToArray();
        Url = Path + "?v=" + Convert.ToHexStringLower(SHA256.HashData(Content).AsSpan(0, 8));
    }

    public byte[] Content { get; }

    /// <summary>The versioned URL pages link to.</summary>
    public string Url { get; }

    /// <summary>The tag a page with a passkey control includes; it also lets that page's CSP run our script.</summary>
    public static string Tag(HttpContext context)
    {
        Html.HtmlPage.AllowOwnScript(context);
        return $"<script src=\"{Html.HtmlPage.Encode(context.RequestServices.GetRequiredService<PasskeyScript>().Url)}\" defer></script>";
    }

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet(Path, (HttpContext context, PasskeyScript script) =>
        {
            context.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
            return Results.Bytes(script.Content, "text/javascript; charset=utf-8");
        }).ExcludeFromDescription();
}
