using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace OAuthServer.Protocol;

/// <summary>
/// Serves the discovery documents and the JWKS from bytes built at most once a second, instead of letting
/// OpenIddict rebuild them (and export every public key) on each request. The benchmark's profile showed
/// these rebuilds, not HTTP, as the cost of the two busiest unauthenticated endpoints.
/// </summary>
/// <remarks>
/// Note: one second of staleness changes nothing a client can observe: the key ring is re-read every
/// Keys:ReloadInterval (30 s) anyway, resource servers cache the JWKS for minutes, and new keys are published
/// well before they sign. Entries are per scheme, host and path (without an explicit issuer the documents name
/// the request's host), there are at most <see cref="MaxEntries"/> of them so a flood of Host headers can't
/// grow memory, and requests with a query string are never cached.
/// </remarks>
internal sealed class WellKnownResponseCache(RequestDelegate next, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(1);

    private const int MaxEntries = 16;

    private static readonly PathString[] CachedPaths =
        ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"];

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private sealed record Entry(int StatusCode, byte[] Body, KeyValuePair<string, StringValues>[] Headers, DateTimeOffset Expires);

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method) || request.QueryString.HasValue
            || !CachedPaths.Any(path => request.Path.Equals(path, StringComparison.OrdinalIgnoreCase)))
        {
            await next(context);
            return;
        }

        var key = $"{request.Scheme}://{request.Host}{request.PathBase}{request.Path.Value!.ToLowerInvariant()}";
        Entry? entry;
        lock (_entries)
        {
            _entries.TryGetValue(key, out entry);
        }

        if (entry is null || entry.Expires <= time.GetUtcNow())
        {
            entry = await RenderAsync(context);
            if (entry is null)
            {
                return; // not a cacheable answer: it was written to the client as is
            }

            lock (_entries)
            {
                if (_entries.Count < MaxEntries || _entries.ContainsKey(key))
                {
                    _entries[key] = entry;
                }
            }
        }

        await WriteAsync(context, entry);
    }

    // Runs the real pipeline into a buffer; a 200 becomes a cache entry (its body and the headers added
    // downstream, like Content-Type and the JWKS ETag), anything else goes to the client unchanged.
    private async Task<Entry?> RenderAsync(HttpContext context)
    {
        var response = context.Response;
        var before = response.Headers.Keys.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var original = response.Body;
        using var buffer = new MemoryStream();
        response.Body = buffer;
        try
        {
            // Note: rendered without the client's validators, so the entry is the full document.
            var conditional = context.Request.Headers.IfNoneMatch;
            context.Request.Headers.IfNoneMatch = StringValues.Empty;
            await next(context);
            context.Request.Headers.IfNoneMatch = conditional;
        }
        finally
        {
            response.Body = original;
        }

        if (response.StatusCode != StatusCodes.Status200OK)
        {
            buffer.Position = 0;
            await buffer.CopyToAsync(original, context.RequestAborted);
            return null;
        }

        var added = response.Headers
            .Where(header => !before.Contains(header.Key) && !header.Key.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)
                && !header.Key.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase))
            .ToArray();
        return new Entry(response.StatusCode, buffer.ToArray(), added, time.GetUtcNow() + Lifetime);
    }

    private static Task WriteAsync(HttpContext context, Entry entry)
    {
        var response = context.Response;
        foreach (var (name, value) in entry.Headers)
        {
            response.Headers[name] = value;
        }

        if (response.Headers.ETag is { Count: > 0 } etag && context.Request.Headers.IfNoneMatch.Contains(etag.ToString()))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            response.ContentLength = 0;
            return Task.CompletedTask;
        }

        response.StatusCode = entry.StatusCode;
        response.ContentLength = entry.Body.Length;
        return response.Body.WriteAsync(entry.Body, context.RequestAborted).AsTask();
    }
}
