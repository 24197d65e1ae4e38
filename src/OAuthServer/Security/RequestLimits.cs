using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace OAuthServer.Security;

/// <summary>
/// The <c>RequestLimits</c> section: how much a single request may cost the server before it is refused.
/// Every OAuth request is small (a form of a few parameters, a JWT or two), so the defaults are far below
/// Kestrel's own (30 MB bodies, 1024 form values of 4 MB each), which would let one client make the server
/// buffer and parse megabytes per request. Threat model "resource exhaustion".
/// </summary>
internal sealed class RequestLimitsOptions
{
    public const string Section = "RequestLimits";

    /// <summary>Largest request body, in bytes; above it the answer is 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Largest total size of the request headers, in bytes; above it Kestrel answers 431.</summary>
    public int MaxRequestHeadersTotalBytes { get; set; } = 32 * 1024;

    /// <summary>Most request headers; above it Kestrel answers 431.</summary>
    public int MaxRequestHeaderCount { get; set; } = 64;

    /// <summary>Longest request line (method, path and query), in bytes; above it Kestrel answers 414.</summary>
    public int MaxRequestLineBytes { get; set; } = 8 * 1024;

    /// <summary>Time a client has to send all its headers (slowloris); then the connection is closed.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long an idle keep-alive connection stays open.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Slowest accepted request body upload, after the grace period (slow POST); slower gets 408.</summary>
    public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    /// <summary>Slowest accepted response download, after the grace period (slow read).</summary>
    public double MinResponseBytesPerSecond { get; set; } = 240;

    /// <summary>The grace period of both data rates.</summary>
    public TimeSpan MinDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Open connections per node; null is unlimited (leave it to the load balancer).</summary>
    public long? MaxConcurrentConnections { get; set; }

    /// <summary>Most form fields in one request (a token request has fewer than 10); above it the answer is 400.</summary>
    public int MaxFormValueCount { get; set; } = 64;

    /// <summary>Longest form field name, in bytes.</summary>
    public int MaxFormKeyLength { get; set; } = 256;

    /// <summary>Longest form field value, in bytes (room for a client assertion or an id_token_hint).</summary>
    public int MaxFormValueLength { get; set; } = 16 * 1024;
}

internal sealed class RequestLimitsOptionsValidator : IValidateOptions<RequestLimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, RequestLimitsOptions options)
    {
        var failures = new List<string>();
        void Positive(string key, double value)
        {
            if (value <= 0)
            {
                failures.Add($"RequestLimits:{key} must be positive.");
            }
        }

        Positive(nameof(options.MaxRequestBodyBytes), options.MaxRequestBodyBytes);
        Positive(nameof(options.MaxRequestHeadersTotalBytes), options.MaxRequestHeadersTotalBytes);
        Positive(nameof(options.MaxRequestHeaderCount), options.MaxRequestHeaderCount);
        Positive(nameof(options.MaxRequestLineBytes), options.MaxRequestLineBytes);
        Positive(nameof(options.RequestHeadersTimeout), options.RequestHeadersTimeout.TotalSeconds);
        Positive(nameof(options.KeepAliveTimeout), options.KeepAliveTimeout.TotalSeconds);
        Positive(nameof(options.MinRequestBodyBytesPerSecond), options.MinRequestBodyBytesPerSecond);
        Positive(nameof(options.MinResponseBytesPerSecond), options.MinResponseBytesPerSecond);
        Positive(nameof(options.MaxFormValueCount), options.MaxFormValueCount);
        Positive(nameof(options.MaxFormKeyLength), options.MaxFormKeyLength);
        Positive(nameof(options.MaxFormValueLength), options.MaxFormValueLength);
        // Note: Kestrel checks data rates once a second (its heartbeat) and needs a longer grace period.
        if (options.MinDataRateGracePeriod <= TimeSpan.FromSeconds(1))
        {
            failures.Add("RequestLimits:MinDataRateGracePeriod must be more than 1 second.");
        }

        if (options.MaxConcurrentConnections is <= 0)
        {
            failures.Add("RequestLimits:MaxConcurrentConnections must be positive, or left unset for no limit.");
        }

        if (options.MaxFormValueLength > options.MaxRequestBodyBytes)
        {
            failures.Add("RequestLimits:MaxFormValueLength can't exceed MaxRequestBodyBytes.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

internal static class RequestLimitsServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthRequestLimits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RequestLimitsOptions>().BindConfiguration(RequestLimitsOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RequestLimitsOptions>, RequestLimitsOptionsValidator>();

        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<RequestLimitsOptions>>((kestrel, limits) =>
        {
            var options = limits.Value;
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = options.MaxRequestHeadersTotalBytes;
            kestrel.Limits.MaxRequestHeaderCount = options.MaxRequestHeaderCount;
            kestrel.Limits.MaxRequestLineSize = options.MaxRequestLineBytes;
            kestrel.Limits.RequestHeadersTimeout = options.RequestHeadersTimeout;
            kestrel.Limits.KeepAliveTimeout = options.KeepAliveTimeout;
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(options.MinRequestBodyBytesPerSecond, options.MinDataRateGracePeriod);
            kestrel.Limits.MinResponseDataRate = new MinDataRate(options.MinResponseBytesPerSecond, options.MinDataRateGracePeriod);
            kestrel.Limits.MaxConcurrentConnections = options.MaxConcurrentConnections;
        });

        // Note: every HttpContext gets these form limits (OpenIddict's request extraction and the account pages'
        // form binding alike), so a form is refused before it is buffered in full.
        builder.Services.AddOptions<FormOptions>().Configure<IOptions<RequestLimitsOptions>>((form, limits) =>
        {
            var options = limits.Value;
            form.ValueCountLimit = options.MaxFormValueCount;
            form.KeyLengthLimit = options.MaxFormKeyLength;
            form.ValueLengthLimit = options.MaxFormValueLength;
            form.BufferBodyLengthLimit = options.MaxRequestBodyBytes;
            form.MultipartBodyLengthLimit = options.MaxRequestBodyBytes;
        });

        return builder;
    }
}

/// <summary>
/// Refuses malformed input before any endpoint sees it, with a 4xx: an OAuth <c>invalid_request</c> on the
/// protocol endpoints, a ProblemDetails (or plain text, for a client that doesn't accept JSON) elsewhere.
/// <list type="bullet">
/// <item>A form that breaks the limits above (too many fields, a field too long, a body too large) or can't be
/// parsed. The form reader's <see cref="InvalidDataException"/> would otherwise surface as a 500. The form is
/// read once, here; later readers (OpenIddict, the account pages) get the cached copy.</item>
/// <item>A Content-Type that claims a form but can't be parsed: OpenIddict would try to read it and fail.</item>
/// <item>A form in a charset other than UTF-8 (RFC 6749 appendix B: OAuth forms are UTF-8), or with more than
/// one charset. The form reader would decode UTF-16 into other parameters than the client sent, and throws on
/// UTF-7 (disabled in .NET for its security problems).</item>
/// <item>A NUL character in any query or form name or value. No OAuth parameter may hold one (RFC 6749
/// appendix A), and PostgreSQL refuses it in text, which would turn a bad request into a database error.</item>
/// </list>
/// </summary>
internal sealed class MalformedRequestMiddleware(RequestDelegate next, IProblemDetailsService problemDetails)
{
    private const string Refusal = "The request is malformed or exceeds the server's limits.";

    private const string CharsetRefusal = "A form must be encoded in UTF-8 (RFC 6749 appendix B), with at most one charset parameter.";

    public async Task InvokeAsync(HttpContext context)
    {
        var refusal = await CheckAsync(context.Request);
        if (refusal is not var (status, description))
        {
            await next(context);
            return;
        }

        context.Response.StatusCode = status;
        if (status == StatusCodes.Status405MethodNotAllowed)
        {
            context.Response.Headers.Allow = HttpMethods.Post;
        }

        if (Protocol.ProtocolPaths.IsProtocolPath(context.Request.Path))
        {
            await context.Response.WriteAsJsonAsync(new Dictionary<string, string>
            {
                ["error"] = "invalid_request",
                ["error_description"] = description,
            }, context.RequestAborted);
            return;
        }

        var written = await problemDetails.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = context.Response.StatusCode, Title = description },
        });
        if (!written)
        {
            // The client accepts no JSON (a browser asking for text/html): plain text, never HTML built from input.
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(description, context.RequestAborted);
        }
    }

    private static (int Status, string Description) Malformed(int status) => (status, Refusal);

    private static async Task<(int Status, string Description)?> CheckAsync(HttpRequest request)
    {
        // Note: client credentials travel only in a POST body or the Authorization header (RFC 6749 §2.3.1 and
        // §3.2, RFC 7009 §2.1, RFC 7662 §2.1, RFC 9126 §2.1). OpenIddict also reads an introspection request from a
        // GET query, which would put a secret into every access log on the way and past the client-auth budgets,
        // which read credentials where the RFCs put them.
        if (Protocol.ProtocolPaths.Classify(request.Path) is { } endpoint && endpoint.Has(Protocol.EndpointTraits.ClientAuthenticating)
            && !HttpMethods.IsPost(request.Method))
        {
            return (StatusCodes.Status405MethodNotAllowed, "This endpoint accepts only POST requests.");
        }

        if (HasNul(request.Query))
        {
            return Malformed(StatusCodes.Status400BadRequest);
        }

        var contentType = request.ContentType;
        if (string.IsNullOrEmpty(contentType))
        {
            return null;
        }

        if (!request.HasFormContentType)
        {
            var claimsForm = contentType.TrimStart().StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)
                || contentType.TrimStart().StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase);
            return claimsForm ? Malformed(StatusCodes.Status400BadRequest) : null;
        }

        if (!HasUtf8Charset(contentType))
        {
            return (StatusCodes.Status400BadRequest, CharsetRefusal);
        }

        try
        {
            var form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
            return HasNul(form) ? Malformed(StatusCodes.Status400BadRequest) : null;
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException exception)
        {
            return Malformed(exception.StatusCode);
        }
        catch (Exception exception) when (exception is InvalidDataException or IOException or ArgumentException or InvalidOperationException
            && !request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            return Malformed(StatusCodes.Status400BadRequest);
        }
        catch (NotSupportedException) when (!request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            // Note: a multipart section's own Content-Type may name UTF-7 too; the encoding lookup throws this.
            return (StatusCodes.Status400BadRequest, CharsetRefusal);
        }
    }

    // Note: no charset means UTF-8 for a form; us-ascii is a subset of it.
    private static bool HasUtf8Charset(string contentType)
    {
        if (!Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return false;
        }

        var charsets = media.Parameters.Where(parameter => parameter.Name.Equals("charset", StringComparison.OrdinalIgnoreCase)).ToList();
        return charsets.Count == 0
            || (charsets.Count == 1 && Microsoft.Net.Http.Headers.HeaderUtilities.RemoveQuotes(charsets[0].Value).Value is { } charset
                && (charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || charset.Equals("us-ascii", StringComparison.OrdinalIgnoreCase)));
    }

    private static bool HasNul(IEnumerable<KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>> pairs) =>
        pairs.Any(pair => pair.Key.Contains('\0', StringComparison.Ordinal)
            || pair.Value.Any(value => value?.Contains('\0', StringComparison.Ordinal) == true));
}
