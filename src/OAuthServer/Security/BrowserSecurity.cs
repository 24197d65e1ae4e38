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

    /// <summary>
    /// The page CSP whose form-action also names where the form's redirect chain may end. Chromium checks
    /// form-action on every redirect after a form post, so a sign-in or consent form that ends, through the
    /// authorization endpoint, at the client's registered redirect URI must name that URI's origin.
    /// </summary>
    /// <remarks>
    /// With <paramref name="ownScript"/> (a page with a passkey control) it also allows scripts from our origin, and
    /// fetches to it: still no inline script and no eval, so an injected tag runs nothing.
    /// </remarks>
    public static string PageContentSecurityPolicyWith(IReadOnlyCollection<string> formTargets, bool ownScript = false)
    {
        var policy = ownScript
            ? PageContentSecurityPolicy.Replace("script-src 'none';", "script-src 'self'; connect-src 'self';", StringComparison.Ordinal)
            : PageContentSecurityPolicy;
        return formTargets.Count == 0
            ? policy
            : policy.Replace("form-action 'self';", "form-action 'self' " + string.Join(' ', formTargets) + ";", StringComparison.Ordinal);
    }

    /// <summary>
    /// The CSP source for a redirect URI, or null: its origin (scheme, host, port); any port of a loopback host
    /// over http (RFC 8252 §7.3 lets a native app pick one at run time); a private-use scheme as a scheme source.
    /// </summary>
    public static string? FormTarget(string? redirectUri)
    {
        if (!Uri.TryCreate(redirectUri, UriKind.Absolute, out var uri) || uri.Scheme.Length > 60)
        {
            return null;
        }

        var source = uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback && uri.HostNameType != UriHostNameType.IPv6
            ? $"http://{uri.Host}:*"
            : uri.Scheme is "http" or "https" ? uri.GetLeftPart(UriPartial.Authority) : uri.Scheme + ":";
        // Note: the value goes into a response header: only the characters a CSP source may hold.
        return source.All(c => char.IsAsciiLetterOrDigit(c) || c is ':' or '/' or '.' or '-' or '+' or '*') && uri.HostNameType != UriHostNameType.IPv6
            ? source
            : null;
    }

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
