using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Admin;

/// <summary>One privileged change: who made it, from where, to what, and the values before and after.</summary>
internal sealed class AuditEntry
{
    /// <summary>Ascending, so it is also the paging cursor of <c>GET /admin/audit</c>.</summary>
    public long Id { get; set; }

    public DateTime OccurredAt { get; set; }

    /// <summary>The admin client's client_id, <c>registration:{client_id}</c>, or <c>cli</c>.</summary>
    public required string Actor { get; set; }

    public required string Action { get; set; }

    /// <summary><c>client</c> or <c>user</c>; a bulk CLI verb (<c>users sign-out-all</c>, <c>tokens revoke-all</c>) writes <c>user</c> or <c>token</c> with the target <c>*</c>.</summary>
    public required string TargetType { get; set; }

    public required string TargetId { get; set; }

    public string? Ip { get; set; }

    /// <summary>JSON: <c>{"before":{...},"after":{...}}</c> with the changed fields only, secrets left out.</summary>
    public string Changes { get; set; } = "{}";
}

internal sealed class AuditEntryConfiguration : IEntityTypeConfiguration<AuditEntry>
{
    public void Configure(EntityTypeBuilder<AuditEntry> builder)
    {
        builder.ToTable("audit_log");
        builder.HasKey(entry => entry.Id);
        builder.Property(entry => entry.Id).ValueGeneratedOnAdd();
        builder.Property(entry => entry.Actor).HasMaxLength(200);
        builder.Property(entry => entry.Action).HasMaxLength(64);
        builder.Property(entry => entry.TargetType).HasMaxLength(32);
        builder.Property(entry => entry.TargetId).HasMaxLength(200);
        builder.Property(entry => entry.Ip).HasMaxLength(64);
        builder.HasIndex(entry => entry.OccurredAt);
        foreach (var property in builder.Metadata.GetProperties())
        {
            // Note: once written, an audit row can't be changed through EF: saving a modified one throws.
            property.SetAfterSaveBehavior(Microsoft.EntityFrameworkCore.Metadata.PropertySaveBehavior.Throw);
        }
    }
}
