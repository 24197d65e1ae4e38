using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using OAuthServer.Protocol;

namespace OAuthServer.Security;

/// <summary>Cookies, antiforgery, forwarded headers and response headers: the browser-facing controls.</summary>
internal static class BrowserSecurity
{
    public static IHostApplicationBuilder AddOAuthBrowserSecurity(this IHostApplicationBuilder builder)
    {
        var server = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new();
        var secureCookies = SecureCookiePolicy(builder);
        builder.Services.AddAuthorization();

        builder.Services.AddAntiforgery(options =>
        {
            options.Cookie.Name = "oauthserver.antiforgery";
            options.Cookie.SameSite = SameSiteMode.Strict;
            options.Cookie.SecurePolicy = secureCookies;
        });

        builder.Services.Configure<ForwardedHeadersOptions>(options =>
        {
            // Note: X-Forwarded-* is believed only from the proxies named in Server:KnownProxies; anyone
            // else could otherwise forge their IP (defeating rate limits) or the scheme.
            options.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost;
            options.KnownIPNetworks.Clear();
            options.KnownProxies.Clear();
            foreach (var proxy in server.KnownProxies)
            {
                if (IPAddress.TryParse(proxy, out var address))
                {
                    options.KnownProxies.Add(address);
                }
            }
        });

        builder.Services.AddHsts(options =>
        {
            options.MaxAge = TimeSpan.FromDays(365);
            options.IncludeSubDomains = true;
        });
        return builder;
    }

    /// <summary>Cookies are Secure everywhere but a Development node that serves plain HTTP on purpose.</summary>
    public static CookieSecurePolicy SecureCookiePolicy(IHostApplicationBuilder builder) =>
        builder.Environment.IsDevelopment() && !(builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new()).RequireHttps
            ? CookieSecurePolicy.SameAsRequest
            : CookieSecurePolicy.Always;

    /// <summary>
    /// The CSP of the server's own pages (set by the page shell): no script at all, style only from our
    /// stylesheets, images from us or over https (client logos), forms posting only to us, never framed
    /// (clickjacking of the sign-in and consent forms).
    /// </summary>
    public const string PageContentSecurityPolicy =
        "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

    /// <summary>No framing, no sniffing, no referrer leaks: the pages carry credentials and codes.</summary>
    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var headers = context.Response.Headers;
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        // Note: the baseline for every answer; the pages tighten it (PageContentSecurityPolicy). OpenIddict's
        // form_post responses keep this one: they need their inline script and post to the client.
        headers.ContentSecurityPolicy = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
        return next(context);
    });
}
