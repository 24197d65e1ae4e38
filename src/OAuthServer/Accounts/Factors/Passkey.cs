using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Accounts.Factors;

/// <summary>A WebAuthn credential (a passkey) a person registered from their account page.</summary>
internal sealed class Passkey
{
    public const int NameLength = 64;

    public Guid Id { get; set; } = Guid.NewGuid();

    public Guid UserId { get; set; }

    /// <summary>The credential id the authenticator chose (WebAuthn §6.1): how an assertion names its key.</summary>
    public required byte[] CredentialId { get; set; }

    /// <summary>The COSE public key the assertions are verified with.</summary>
    public required byte[] PublicKey { get; set; }

    /// <summary>The user handle given to the authenticator at registration (random, never the email).</summary>
    public required byte[] UserHandle { get; set; }

    /// <summary>
    /// The last signature counter seen (WebAuthn §6.1.1). A counter that doesn't move forward, when the
    /// authenticator keeps one, means the key was cloned: the assertion is refused and an event raised.
    /// </summary>
    public long SignCount { get; set; }

    /// <summary>The authenticator model (AAGUID), when it told us.</summary>
    public Guid AaGuid { get; set; }

    /// <summary>WebAuthn §6.1 flag BE: the key may be synced to other devices (then it is a software key, RFC 8176 swk).</summary>
    public bool IsBackupEligible { get; set; }

    /// <summary>WebAuthn §6.1 flag BS: the key is synced now.</summary>
    public bool IsBackedUp { get; set; }

    /// <summary>The transports the authenticator reported (comma-separated), offered back to the browser.</summary>
    public string? Transports { get; set; }

    /// <summary>The attestation statement format at registration (for the record; attestation is not required).</summary>
    public string? AttestationFormat { get; set; }

    /// <summary>What the person called it, for their account page.</summary>
    public required string Name { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime? LastUsedAt { get; set; }
}

internal sealed class PasskeyConfiguration : IEntityTypeConfiguration<Passkey>
{
    public void Configure(EntityTypeBuilder<Passkey> builder)
    {
        builder.ToTable("passkeys");
        builder.HasKey(row => row.Id);
        builder.Property(row => row.CredentialId).HasMaxLength(1024);
        builder.Property(row => row.PublicKey).HasMaxLength(2048);
        builder.Property(row => row.UserHandle).HasMaxLength(64);
        builder.Property(row => row.Transports).HasMaxLength(128);
        builder.Property(row => row.AttestationFormat).HasMaxLength(32);
        builder.Property(row => row.Name).HasMaxLength(Passkey.NameLength);
        // Note: an assertion names its credential, and a credential id belongs to one account only (WebAuthn §7.1 step 22).
        builder.HasIndex(row => row.CredentialId).IsUnique();
        builder.HasIndex(row => row.UserId);
        builder.HasOne<User>().WithMany().HasForeignKey(row => row.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
