using System.Text.Json.Serialization;

namespace OAuthServer.Protocol;

/// <summary>
/// The one writer of an OAuth error body (RFC 6749 §5.2: <c>error</c> and <c>error_description</c>, as JSON) for
/// the answers our own middleware gives before or instead of OpenIddict: rate limits, malformed requests, an
/// unreachable database. They look like OpenIddict's own errors (same content type, same cache headers), so a
/// client parses every error of an endpoint alike whichever layer refused it.
/// </summary>
internal static class OAuthErrorResponse
{
    /// <summary>The content type OpenIddict gives its JSON answers.</summary>
    public const string ContentType = "application/json;charset=UTF-8";

    /// <summary>
    /// True when the request's answer must be an OAuth error (any spelling of an OAuth/OIDC endpoint, or any other
    /// path under <c>/connect</c>); false where a person or the admin API reads it (a page or ProblemDetails).
    /// Decided by <see cref="ProtocolPaths.EndpointOf"/> only, so every writer agrees on every spelling.
    /// </summary>
    public static bool IsOAuthRequest(HttpContext context) => ProtocolPaths.EndpointOf(context)?.Has(EndpointTraits.Protocol) == true;

    public static Task WriteAsync(HttpContext context, int statusCode, string error, string description)
    {
        var response = context.Response;
        response.StatusCode = statusCode;
        // Note: RFC 6749 §5.1: answers of the token-style endpoints must not be stored by any cache; a cached
        // 429 or 503 would also go on refusing a client after the server has recovered. (Inside the exception
        // handler, ASP.NET Core rewrites these to "no-cache,no-store" as the response starts: the same to a cache.)
        response.Headers.CacheControl = "no-store";
        response.Headers.Pragma = "no-cache";
        return response.WriteAsJsonAsync(new Body(error, description), ProtocolJson.Default.Body, ContentType, context.RequestAborted);
    }

    internal sealed record Body(
        [property: JsonPropertyName("error")] string Error,
        [property: JsonPropertyName("error_description")] string Description);
}

[JsonSerializable(typeof(OAuthErrorResponse.Body))]
internal sealed partial class ProtocolJson : JsonSerializerContext;
