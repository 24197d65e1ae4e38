using OAuthServer.Protocol;

namespace OAuthServer.Security;

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

        if (OAuthErrorResponse.IsOAuthRequest(context))
        {
            await OAuthErrorResponse.WriteAsync(context, status, "invalid_request", description);
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
        if (ProtocolPaths.EndpointOf(request.HttpContext) is { } endpoint && endpoint.Has(EndpointTraits.ClientAuthenticating)
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
