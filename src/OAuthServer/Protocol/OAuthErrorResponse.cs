using System.Text.Json.Serialization;

namespace OAuthServer.Protocol;

/// <summary>
/// The one writer of an OAuth error body (RFC 6749 §5.2: <c>error</c> and <c>error_description</c>, as JSON) for
/// the answers our own middleware gives before or instead of OpenIddict: rate limits, malformed requests, an
/// unreachable database.
/// </summary>
internal static class OAuthErrorResponse
{
    public static Task WriteAsync(HttpContext context, int statusCode, string error, string description)
    {
        context.Response.StatusCode = statusCode;
        return context.Response.WriteAsJsonAsync(new Body(error, description), ProtocolJson.Default.Body);
    }

    internal sealed record Body(
        [property: JsonPropertyName("error")] string Error,
        [property: JsonPropertyName("error_description")] string Description);
}

[JsonSerializable(typeof(OAuthErrorResponse.Body))]
internal sealed partial class ProtocolJson : JsonSerializerContext;
