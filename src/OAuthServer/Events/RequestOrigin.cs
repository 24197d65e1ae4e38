namespace OAuthServer.Events;

/// <summary>Who and where a request came from, as far as the events need to know.</summary>
internal sealed record RequestOrigin(string? Ip, string? UserAgent, string? ClientId = null)
{
    public static RequestOrigin None { get; } = new(null, null);

    public static RequestOrigin From(HttpContext context, string? clientId = null)
    {
        var userAgent = context.Request.Headers.UserAgent.ToString();
        return new(
            context.Connection.RemoteIpAddress?.ToString(),
            userAgent.Length > 512 ? userAgent[..512] : userAgent,
            clientId);
    }
}
