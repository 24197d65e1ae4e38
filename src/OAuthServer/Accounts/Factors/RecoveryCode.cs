using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Accounts.Factors;

/// <summary>One of a person's single-use recovery codes, for when their second factor is lost.</summary>
internal sealed class RecoveryCode
{
    public Guid Id { get; set; } = Guid.NewGuid();

    public Guid UserId { get; set; }

    /// <summary>A keyed hash of the code, never the code: the database alone can't be turned back into codes.</summary>
    public required byte[] CodeHash { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>Set when the code was spent; a spent code never works again.</summary>
    public DateTime? UsedAt { get; set; }
}

internal sealed class RecoveryCodeConfiguration : IEntityTypeConfiguration<RecoveryCode>
{
    public void Configure(EntityTypeBuilder<RecoveryCode> builder)
    {
        builder.ToTable("recovery_codes");
        builder.HasKey(row => row.Id);
        builder.Property(row => row.CodeHash).HasMaxLength(64);
        builder.HasIndex(row => new { row.UserId, row.CodeHash }).IsUnique();
        builder.HasOne<User>().WithMany().HasForeignKey(row => row.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
