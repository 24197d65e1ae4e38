using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace OAuthServer.Keys;

/// <summary>
/// Makes the JWKS cacheable: <c>Cache-Control</c> with a max-age shorter than any sensible pre-publication
/// window (a key is published at least that long before it signs, so a cached JWKS always knows it), and a
/// strong ETag so resource servers can revalidate for free.
/// </summary>
internal sealed class JwksCaching(RequestDelegate next, IOptions<KeysOptions> options)
{
    public static readonly PathString Path = "/.well-known/jwks.json";

    /// <summary>Resource servers may cache the key set this long; pre-publish new keys for longer (keys new --activate-in).</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The max-age actually sent: ten reload intervals, between 1 second and <see cref="MaxAge"/>. <c>keys new</c>
    /// refuses a shorter pre-publication (plus one reload interval) without <c>--force</c>.
    /// </summary>
    public static TimeSpan MaxAgeFor(TimeSpan reloadInterval) =>
        TimeSpan.FromSeconds((int)Math.Min(MaxAge.TotalSeconds, Math.Max(1, reloadInterval.TotalSeconds * 10)));

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.Equals(Path, StringComparison.OrdinalIgnoreCase) || !HttpMethods.IsGet(context.Request.Method))
        {
            await next(context);
            return;
        }

        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        if (context.Response.StatusCode == StatusCodes.Status200OK)
        {
            var etag = $"\"{Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()))[..32]}\"";
            var maxAge = (int)MaxAgeFor(options.Value.ReloadInterval).TotalSeconds;
            context.Response.Headers.ETag = etag;
            context.Response.Headers.CacheControl = $"public, max-age={maxAge}";
            if (context.Request.Headers.IfNoneMatch.Contains(etag))
            {
                context.Response.StatusCode = StatusCodes.Status304NotModified;
                context.Response.ContentLength = 0;
                return;
            }
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted);
    }
}
