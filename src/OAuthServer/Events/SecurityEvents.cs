using System.Text.Json;

namespace OAuthServer.Events;

/// <summary>Adds events to the outbox of the current unit of work. The caller's SaveChanges commits them.</summary>
internal sealed class SecurityEvents(Data.OAuthDbContext db, TimeProvider clock)
{
    public void Add(string type, RequestOrigin origin, Guid? userId = null, object? data = null)
    {
        db.SecurityEvents.Add(new SecurityEvent
        {
            Type = type,
            OccurredAt = clock.GetUtcNow().UtcDateTime,
            UserId = userId,
            ClientId = origin.ClientId,
            Ip = origin.Ip,
            UserAgent = origin.UserAgent,
            Data = data is null ? "{}" : JsonSerializer.Serialize(data),
        });
    }
}
