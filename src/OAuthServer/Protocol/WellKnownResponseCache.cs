using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using OAuthServer.Keys;

namespace OAuthServer.Protocol;

/// <summary>
/// The one caching mechanism of the discovery documents and the JWKS, on both sides of HTTP:
/// <list type="bullet">
/// <item>on the server, their bytes are built at most once a second, instead of letting OpenIddict rebuild them
/// (and export every public key) on each request. The benchmark's profile showed these rebuilds, not HTTP, as the
/// cost of the two busiest unauthenticated endpoints;</item>
/// <item>for clients, each answer carries <c>Cache-Control: public, max-age</c> and a strong ETag, and an
/// <c>If-None-Match</c> that matches gets a 304, so clients and resource servers revalidate for free.</item>
/// </list>
/// </summary>
/// <remarks>
/// Note: one second of staleness changes nothing a client can observe: the key ring is re-read every
/// Keys:ReloadInterval (30 s) anyway, resource servers cache the JWKS for minutes, and new keys are published
/// well before they sign. Entries are per scheme, host and path (without an explicit issuer the documents name
/// the request's host), there are at most <see cref="MaxEntries"/> of them so a flood of Host headers can't
/// grow memory, and requests with a query string are rendered each time (they still get the HTTP validators).
/// RFC 9110 §9.3.2: HEAD gets the headers GET would get, without the body; OpenIddict answers only GET, so a
/// HEAD is rendered as a GET and its body left out.
/// </remarks>
internal sealed class WellKnownResponseCache(RequestDelegate next, TimeProvider time, IOptions<KeysOptions> keys)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long clients may cache a discovery document. It changes only when the deployment's settings do (issuer,
    /// endpoints, grant types), and a client that reads it late still finds every endpoint it names; the keys,
    /// which do change at run time, are in the JWKS with its own, shorter max-age.
    /// </summary>
    public static readonly TimeSpan DiscoveryMaxAge = TimeSpan.FromHours(1);

    private const int MaxEntries = 16;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private sealed record Entry(int StatusCode, byte[] Body, KeyValuePair<string, StringValues>[] Headers, DateTimeOffset Expires);

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var maxAge = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) ? MaxAge(ProtocolPaths.EndpointOf(context)) : null;
        if (maxAge is null)
        {
            await next(context);
            return;
        }

        var shared = !request.QueryString.HasValue;
        var key = $"{request.Scheme}://{request.Host}{request.PathBase}{request.Path.Value!.ToLowerInvariant()}";
        Entry? entry = null;
        if (shared)
        {
            lock (_entries)
            {
                _entries.TryGetValue(key, out entry);
            }
        }

        if (entry is null || entry.Expires <= time.GetUtcNow())
        {
            entry = await RenderAsync(context, maxAge.Value);
            if (entry is null)
            {
                return; // not a cacheable answer: it was written to the client as is
            }

            lock (_entries)
            {
                if (shared && (_entries.Count < MaxEntries || _entries.ContainsKey(key)))
                {
                    _entries[key] = entry;
                }
            }
        }

        await WriteAsync(context, entry);
    }

    private TimeSpan? MaxAge(ProtocolEndpoint? endpoint) =>
        endpoint?.Has(EndpointTraits.PublicDocument) != true ? null
        : endpoint.Path == ProtocolPaths.Jwks ? JwksCaching.MaxAgeFor(keys.Value.ReloadInterval)
        : DiscoveryMaxAge;

    // Runs the real pipeline into a buffer; a 200 becomes an entry (its body, the headers added downstream, like
    // Content-Type, and the validators added here), anything else goes to the client unchanged.
    private async Task<Entry?> RenderAsync(HttpContext context, TimeSpan maxAge)
    {
        var response = context.Response;
        var before = response.Headers.Keys.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var method = context.Request.Method;
        var original = response.Body;
        using var buffer = new MemoryStream();
        response.Body = buffer;
        try
        {
            // Note: rendered without the client's validators, so the entry is the full document.
            var conditional = context.Request.Headers.IfNoneMatch;
            context.Request.Headers.IfNoneMatch = StringValues.Empty;
            context.Request.Method = HttpMethods.Get;
            await next(context);
            context.Request.Headers.IfNoneMatch = conditional;
        }
        finally
        {
            context.Request.Method = method;
            response.Body = original;
        }

        if (response.StatusCode != StatusCodes.Status200OK)
        {
            if (!HttpMethods.IsHead(method))
            {
                buffer.Position = 0;
                await buffer.CopyToAsync(original, context.RequestAborted);
            }

            return null;
        }

        var body = buffer.ToArray();
        // Note: a strong ETag from the bytes themselves, so every node serving the same document gives the same tag.
        response.Headers.ETag = $"\"{Convert.ToHexStringLower(SHA256.HashData(body))[..32]}\"";
        response.Headers.CacheControl = $"public, max-age={(int)maxAge.TotalSeconds}";
        var added = response.Headers
            .Where(header => !before.Contains(header.Key) && !header.Key.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)
                && !header.Key.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase))
            .ToArray();
        return new Entry(response.StatusCode, body, added, time.GetUtcNow() + Lifetime);
    }

    private static Task WriteAsync(HttpContext context, Entry entry)
    {
        var response = context.Response;
        foreach (var (name, value) in entry.Headers)
        {
            response.Headers[name] = value;
        }

        if (Matches(context.Request.Headers.IfNoneMatch, response.Headers.ETag.ToString()))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            response.ContentLength = 0;
            return Task.CompletedTask;
        }

        response.StatusCode = entry.StatusCode;
        response.ContentLength = entry.Body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(entry.Body, context.RequestAborted).AsTask();
    }

    // Note: RFC 9110 §13.1.2: If-None-Match may list several tags or be "*", and compares weakly, so a cache that
    // stored our tag as W/"..." still revalidates.
    private static bool Matches(StringValues ifNoneMatch, string etag) =>
        ifNoneMatch.Count > 0
        && EntityTagHeaderValue.TryParse(etag, out var ours)
        && EntityTagHeaderValue.TryParseList(ifNoneMatch, out var theirs)
        && theirs.Any(tag => tag.Equals(EntityTagHeaderValue.Any) || tag.Compare(ours, useStrongComparison: false));
}
