using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// What the server does about a refused DPoP request: counts it (<c>oauth_dpop_refused{reason, endpoint}</c>),
/// and for the two refusals that mean someone holds what isn't theirs (a proof seen before, a bound token or code
/// presented with another key) records a security event and a warning. Neither carries the proof or the token.
/// </summary>
internal sealed partial class DpopRefusals(OAuthDbContext db, SecurityEvents events, OAuthMetrics metrics, ILogger<DpopRefusals> logger)
{
    public void Count(string reason, string endpoint) => metrics.DpopRefused.Add(1,
        new KeyValuePair<string, object?>("reason", reason), new KeyValuePair<string, object?>("endpoint", endpoint));

    /// <summary>RFC 9449 §11.1: a proof whose <c>jti</c> was already spent, at this node or another.</summary>
    public async Task ReplayedAsync(HttpContext? http, string? clientId, string endpoint)
    {
        Count("replayed", endpoint);
        await RecordAsync(SecurityEventTypes.DpopProofReplayed, http, clientId, new { endpoint });
        LogReplayed(logger, clientId, endpoint, http?.Connection.RemoteIpAddress?.ToString());
    }

    /// <summary>A code, refresh token or access token bound to one key, presented with another key or none.</summary>
    public async Task KeyMismatchAsync(HttpContext? http, string? clientId, string endpoint, string bound)
    {
        Count("key_mismatch", endpoint);
        await RecordAsync(SecurityEventTypes.DpopKeyMismatch, http, clientId, new { endpoint, bound });
        LogKeyMismatch(logger, bound, clientId, endpoint, http?.Connection.RemoteIpAddress?.ToString());
    }

    private async Task RecordAsync(string type, HttpContext? http, string? clientId, object data)
    {
        var origin = http is null ? RequestOrigin.None with { ClientId = clientId } : RequestOrigin.From(http, clientId);
        // Note: CancellationToken.None: a sender who hangs up must not be able to keep its attempt out of the record.
        events.Add(type, origin, data: data);
        await db.SaveChangesAsync(CancellationToken.None);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit dpop.proof_replayed client {ClientId} at {Endpoint}; from {Ip}")]
    private static partial void LogReplayed(ILogger logger, string? clientId, string endpoint, string? ip);

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit dpop.key_mismatch {Bound} of client {ClientId} at {Endpoint}; from {Ip}")]
    private static partial void LogKeyMismatch(ILogger logger, string bound, string? clientId, string endpoint, string? ip);
}
