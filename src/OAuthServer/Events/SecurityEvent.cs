using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Events;

/// <summary>The event types of the architecture (section 6). Subjects are <c>oauth.security.&lt;type&gt;</c>.</summary>
internal static class SecurityEventTypes
{
    public const string LoginSucceeded = "login.succeeded";
    public const string LoginFailed = "login.failed";
    public const string AccountLocked = "account.locked";
    public const string AccountUnlocked = "account.unlocked";
    public const string AccountDisabled = "account.disabled";
    public const string AccountEnabled = "account.enabled";
    public const string PasswordChanged = "password.changed";
    public const string RefreshReplayed = "refresh.replayed";
    public const string CodeReplayed = "code.replayed";
    public const string UserCreated = "user.created";
    public const string UserDeleted = "user.deleted";
    public const string TokenRevoked = "token.revoked";
    public const string ClientCreated = "client.created";
    public const string ClientUpdated = "client.updated";
    public const string ClientDeleted = "client.deleted";
    public const string ClientSecretRotated = "client.secret_rotated";
    public const string KeyCreated = "key.created";
    public const string KeyRetired = "key.retired";
}

/// <summary>
/// A row of the security-event outbox. It is added to the same <see cref="Data.OAuthDbContext"/> unit of work as
/// the change it describes, so the event exists if and only if the change was committed. A relay publishes
/// pending rows to NATS JetStream. It never holds a credential or token; an email appears only as a keyed hash.
/// </summary>
internal sealed class SecurityEvent
{
    public Guid Id { get; set; } = Guid.NewGuid();

    public required string Type { get; set; }

    public DateTime OccurredAt { get; set; }

    public Guid? UserId { get; set; }

    public string? ClientId { get; set; }

    public string? Ip { get; set; }

    public string? UserAgent { get; set; }

    /// <summary>Type-specific details as a JSON object.</summary>
    public string Data { get; set; } = "{}";

    /// <summary>Set by the relay once JetStream acknowledged the message.</summary>
    public DateTime? PublishedAt { get; set; }
}

internal sealed class SecurityEventConfiguration : IEntityTypeConfiguration<SecurityEvent>
{
    public void Configure(EntityTypeBuilder<SecurityEvent> builder)
    {
        builder.ToTable("security_events");
        builder.HasKey(item => item.Id);
        builder.Property(item => item.Type).HasMaxLength(64);
        builder.Property(item => item.ClientId).HasMaxLength(100);
        builder.Property(item => item.Ip).HasMaxLength(64);
        builder.Property(item => item.UserAgent).HasMaxLength(512);
        // Note: the relay reads the oldest unpublished rows first.
        builder.HasIndex(item => new { item.PublishedAt, item.OccurredAt });
    }
}

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
