using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Accounts.Factors;

/// <summary>A person's TOTP app (RFC 6238): at most one per account.</summary>
internal sealed class TotpAuthenticator
{
    public Guid UserId { get; set; }

    /// <summary>The shared secret, encrypted with a key that is not in the database; never stored in the clear.</summary>
    public required byte[] EncryptedSecret { get; set; }

    /// <summary>Which encryption key sealed <see cref="EncryptedSecret"/>, so the key can be rotated.</summary>
    public required string KeyId { get; set; }

    /// <summary>Null until the person proved their app works with a first code; an unconfirmed app is not a factor.</summary>
    public DateTime? ConfirmedAt { get; set; }

    /// <summary>
    /// The last time step (RFC 6238 §4) a code was accepted for: only a later step is accepted, so a code is
    /// single-use within its window (RFC 6238 §5.2), even when two nodes see it at once.
    /// </summary>
    public long LastUsedStep { get; set; }

    public DateTime CreatedAt { get; set; }
}

internal sealed class TotpAuthenticatorConfiguration : IEntityTypeConfiguration<TotpAuthenticator>
{
    public void Configure(EntityTypeBuilder<TotpAuthenticator> builder)
    {
        builder.ToTable("totp_authenticators");
        builder.HasKey(row => row.UserId);
        builder.Property(row => row.EncryptedSecret).HasMaxLength(256);
        builder.Property(row => row.KeyId).HasMaxLength(64);
        builder.HasOne<User>().WithOne().HasForeignKey<TotpAuthenticator>(row => row.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
