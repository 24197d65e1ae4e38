using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Events;

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
        // Note: the account page reads one user's newest events.
        builder.HasIndex(item => new { item.UserId, item.OccurredAt });
    }
}
