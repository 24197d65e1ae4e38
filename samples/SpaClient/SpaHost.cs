using Microsoft.Extensions.Options;

namespace SpaClient;

/// <summary>What the browser app is told at start-up (served as /config.json): public values only.</summary>
internal sealed class SpaOptions
{
    public const string Section = "Spa";

    /// <summary>The authorization server's issuer; the app reads every endpoint from its discovery document.</summary>
    public Uri? Authority { get; set; }

    public string ClientId { get; set; } = "sample-spa";

    public string Scope { get; set; } = "openid profile email offline_access api";

    /// <summary>The resource API endpoint the app calls with its access token.</summary>
    public Uri? ApiUrl { get; set; }
}

/// <summary>
/// A static host and nothing more: the app is plain JavaScript modules in wwwroot with no build step. The host
/// adds the configuration document and a strict Content-Security-Policy; it never sees a token.
/// </summary>
internal static class SpaHost
{
    public static IHostApplicationBuilder AddSpaHost(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SpaOptions>().BindConfiguration(SpaOptions.Section)
            .Validate(options => options.Authority is { IsAbsoluteUri: true } && options.ApiUrl is { IsAbsoluteUri: true },
                "Spa:Authority and Spa:ApiUrl must be absolute URLs.")
            .ValidateOnStart();
        return builder;
    }

    public static WebApplication MapSpaHost(this WebApplication app)
    {
        var spa = app.Services.GetRequiredService<IOptions<SpaOptions>>().Value;
        var authority = spa.Authority!.GetLeftPart(UriPartial.Authority);
        var api = spa.ApiUrl!.GetLeftPart(UriPartial.Authority);

        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            // Note: tokens live in this page's memory, so script injection is the threat that matters: only our
            // own scripts run (no inline script), and the page may only talk to itself, the server and the API.
            headers.ContentSecurityPolicy =
                $"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' {authority} {api}; " +
                "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'none'";
            headers.XContentTypeOptions = "nosniff";
            // Note: the authorization code arrives in this page's URL; no Referer may carry it elsewhere.
            headers["Referrer-Policy"] = "no-referrer";
            headers.CacheControl = "no-store";
            return next(context);
        });

        app.MapGet("/config.json", (IOptions<SpaOptions> options) => Results.Json(new
        {
            authority = options.Value.Authority!.ToString(),
            clientId = options.Value.ClientId,
            scope = options.Value.Scope,
            apiUrl = options.Value.ApiUrl!.ToString(),
        })).WithName("SpaConfiguration");

        app.UseDefaultFiles();
        app.UseStaticFiles();
        // The redirect URI (/callback) and any other path load the same page, which reads its URL.
        app.MapFallbackToFile("index.html");
        return app;
    }
}
