using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Accounts.Recovery;

/// <summary>
/// One password-reset link sent to a user. Only the SHA-256 of its token is kept: a copy of the database can't be
/// turned into working links (the token has 256 bits of entropy, so a plain hash is enough, no salt or stretching).
/// </summary>
internal sealed class PasswordReset
{
    public Guid Id { get; set; } = Guid.NewGuid();

    public Guid UserId { get; set; }

    /// <summary>SHA-256 of the token sent in the link (32 bytes).</summary>
    public required byte[] TokenHash { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime ExpiresAt { get; set; }

    /// <summary>When the link was redeemed; set once, by the one request that wins the conditional update.</summary>
    public DateTime? UsedAt { get; set; }
}

internal sealed class PasswordResetConfiguration : IEntityTypeConfiguration<PasswordReset>
{
    public void Configure(EntityTypeBuilder<PasswordReset> builder)
    {
        builder.ToTable("password_resets");
        builder.HasKey(reset => reset.Id);
        builder.Property(reset => reset.TokenHash).HasMaxLength(32);
        builder.HasIndex(reset => reset.TokenHash).IsUnique();
        // Note: the newest link of a user is looked up per user on every redemption (a newer request supersedes).
        builder.HasIndex(reset => new { reset.UserId, reset.CreatedAt });
        builder.HasIndex(reset => reset.ExpiresAt);
        // Note: a deleted user's links go with the account.
        builder.HasOne<User>().WithMany().HasForeignKey(reset => reset.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
