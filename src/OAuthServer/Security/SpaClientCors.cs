using Microsoft.Net.Http.Headers;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Security;

/// <summary>
/// CORS for browser apps. Discovery and the JWKS are readable from any origin. The three endpoints a SPA calls
/// from script (token, revocation, userinfo) allow exactly the origins of the redirect URIs of registered public,
/// non-native clients (an SPA is served from the origin it is redirected back to): never <c>*</c>, never
/// credentials (these endpoints take no cookies). Every other path gets no CORS headers, so the login and consent
/// pages stay same-origin.
/// </summary>
/// <remarks>Interim and self-contained (samples issue); the admin API issue owns CORS and may replace this file.</remarks>
internal sealed class SpaClientCors(RequestDelegate next, TimeProvider clock)
{
    private static readonly PathString[] Paths = ["/connect/token", "/connect/revoke", "/connect/userinfo"];

    // Note: discovery and the JWKS are public documents that browser apps read first; any origin may read them
    // (no credentials are involved, so * is safe here, as the OIDC Discovery and RFC 8414 documents are public).
    private static readonly PathString[] PublicDocuments =
        ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"];

    // A new client's origin must work at once (the client is used right after it is registered), so an unknown
    // origin reloads the list, but at most once a second, so a flood of made-up origins can't hammer the database.
    private static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MinReloadInterval = TimeSpan.FromSeconds(1);

    private volatile OriginSnapshot? _snapshot;

    public async Task InvokeAsync(HttpContext context, IOpenIddictApplicationManager applications)
    {
        var path = context.Request.Path;
        if (PublicDocuments.Any(candidate => path.Equals(candidate, StringComparison.OrdinalIgnoreCase)) && context.Request.Headers.Origin.Count > 0)
        {
            context.Response.Headers.AccessControlAllowOrigin = "*";
            if (HttpMethods.IsOptions(context.Request.Method))
            {
                context.Response.Headers.AccessControlAllowMethods = "GET";
                context.Response.StatusCode = StatusCodes.Status204NoContent;
                return;
            }

            await next(context);
            return;
        }

        if (!Paths.Any(candidate => path.Equals(candidate, StringComparison.OrdinalIgnoreCase)))
        {
            await next(context);
            return;
        }

        var headers = context.Response.Headers;
        headers.Append(HeaderNames.Vary, HeaderNames.Origin);
        var origin = context.Request.Headers.Origin.ToString();
        var allowed = origin.Length > 0 && await IsAllowedAsync(origin, applications, context.RequestAborted);
        var preflight = HttpMethods.IsOptions(context.Request.Method) && context.Request.Headers.ContainsKey(HeaderNames.AccessControlRequestMethod);

        if (allowed)
        {
            headers.AccessControlAllowOrigin = origin;
            headers.AccessControlExposeHeaders = HeaderNames.WWWAuthenticate;
        }

        if (preflight)
        {
            // A preflight is answered here and goes no further; without the allow headers the browser refuses.
            if (allowed)
            {
                headers.AccessControlAllowMethods = path.Equals("/connect/userinfo", StringComparison.OrdinalIgnoreCase) ? "GET, POST" : "POST";
                headers.AccessControlAllowHeaders = "Content-Type, Authorization";
                headers.AccessControlMaxAge = "600";
            }

            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        await next(context);
    }

    private async Task<bool> IsAllowedAsync(string origin, IOpenIddictApplicationManager applications, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var snapshot = _snapshot;
        if (snapshot is not null && snapshot.Origins.Contains(origin) && now - snapshot.LoadedAt < MaxAge)
        {
            return true;
        }

        if (snapshot is null || now - snapshot.LoadedAt >= MinReloadInterval)
        {
            snapshot = _snapshot = new OriginSnapshot(await LoadAsync(applications, cancellationToken), now);
        }

        return snapshot.Origins.Contains(origin);
    }

    private static async Task<HashSet<string>> LoadAsync(IOpenIddictApplicationManager applications, CancellationToken cancellationToken)
    {
        var origins = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var application in applications.ListAsync(count: null, offset: null, cancellationToken))
        {
            // Note: a confidential client calls from its back end, and a native app from outside any browser:
            // neither needs a browser to be let in.
            if (!await applications.HasClientTypeAsync(application, ClientTypes.Public, cancellationToken)
                || await applications.HasApplicationTypeAsync(application, ApplicationTypes.Native, cancellationToken))
            {
                continue;
            }

            foreach (var redirectUri in await applications.GetRedirectUrisAsync(application, cancellationToken))
            {
                if (Uri.TryCreate(redirectUri, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http")
                {
                    // The Origin header's form: scheme://host[:port], the default port left out, as GetLeftPart does.
                    origins.Add(uri.GetLeftPart(UriPartial.Authority));
                }
            }
        }

        return origins;
    }

    private sealed record OriginSnapshot(HashSet<string> Origins, DateTimeOffset LoadedAt);
}
