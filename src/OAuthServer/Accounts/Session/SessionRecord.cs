using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Accounts;

/// <summary>
/// The server's side of one browser session: the cookie names it by <see cref="Id"/>, and a session whose record
/// is ended or gone is over, whatever the cookie says. It is what lets a person see their sessions and end one
/// that is not in front of them (a stolen cookie, a shared computer).
/// </summary>
internal sealed class SessionRecord
{
    public const int UserAgentLength = 256;

    public Guid Id { get; set; } = Guid.NewGuid();

    public Guid UserId { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>Coarse: moved at most once per <see cref="BrowserSession.LastSeenResolution"/>, so a busy session is not a write per request.</summary>
    public DateTime LastSeenAt { get; set; }

    /// <summary>Set when the session was signed out or ended from the account page; an ended record never comes back.</summary>
    public DateTime? EndedAt { get; set; }

    /// <summary>The browser's User-Agent at sign-in, cut to <see cref="UserAgentLength"/>: for the person to recognise it, never trusted.</summary>
    public string? UserAgent { get; set; }

    /// <summary>The client address at sign-in (after the forwarded-headers middleware).</summary>
    public string? Ip { get; set; }
}

internal sealed class SessionRecordConfiguration : IEntityTypeConfiguration<SessionRecord>
{
    public void Configure(EntityTypeBuilder<SessionRecord> builder)
    {
        builder.ToTable("browser_sessions");
        builder.HasKey(row => row.Id);
        builder.Property(row => row.UserAgent).HasMaxLength(SessionRecord.UserAgentLength);
        builder.Property(row => row.Ip).HasMaxLength(64);
        // Note: the account page lists a user's sessions, and "sign out everywhere" ends them all.
        builder.HasIndex(row => row.UserId);
        // Note: the pruner deletes by age.
        builder.HasIndex(row => row.CreatedAt);
        builder.HasOne<User>().WithMany().HasForeignKey(row => row.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
