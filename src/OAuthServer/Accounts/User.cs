using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Accounts;

/// <summary>
/// The account state an operator sets (threat model 1.3). Anything but <see cref="Active"/> is refused at every
/// issuance and refresh. The automatic lockout after failed passwords is not a state: see <see cref="User.LockedUntil"/>.
/// </summary>
internal enum AccountStatus
{
    Active = 0,
    Disabled = 1,

    /// <summary>Locked by an operator (e.g. a confirmed compromise); <c>users unlock</c> ends it.</summary>
    Locked = 2,
}

/// <summary>A person who signs in. The <see cref="Id"/> is the <c>sub</c> of every token issued to them.</summary>
internal sealed class User
{
    public Guid Id { get; set; } = Guid.NewGuid();

    /// <summary>The address as the user typed it, for display.</summary>
    public required string Email { get; set; }

    /// <summary>The lookup key: see <see cref="EmailAddress.Normalize"/>.</summary>
    public required string NormalizedEmail { get; set; }

    /// <summary>A self-describing Argon2id hash (PHC string), never the password.</summary>
    public required string PasswordHash { get; set; }

    public AccountStatus Status { get; set; } = AccountStatus.Active;

    /// <summary>
    /// Set while password sign-ins from unknown browsers are locked out after failed passwords (threat model
    /// 1.2); the lock ends by itself at this instant (UTC). It throttles new sign-ins only: existing sessions and
    /// tokens, and browsers holding a device cookie, are not affected, since anyone can trigger it.
    /// </summary>
    public DateTime? LockedUntil { get; set; }

    /// <summary>
    /// Password checks reserved since the last success or lock: each attempt reserves one before its hash runs,
    /// so at most <see cref="LockoutOptions.MaxFailures"/> guesses are ever evaluated per lock.
    /// </summary>
    public int FailedLoginCount { get; set; }

    /// <summary>Lockouts since the last successful login; each one doubles the next lock's length.</summary>
    public int LockoutCount { get; set; }

    /// <summary>
    /// Changes whenever the password changes or the account is disabled or locked by an operator. A sign-in cookie carries the stamp it
    /// was issued with, so such a change ends every existing browser session.
    /// </summary>
    public string SecurityStamp { get; set; } = NewSecurityStamp();

    /// <summary>
    /// May use the admin API as a person (after a recent second factor). Set only by an operator (the CLI or the
    /// admin API), read from this row on every admin request: never taken from a token or anything a client sends.
    /// </summary>
    public bool IsAdministrator { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }

    public static string NewSecurityStamp() => Guid.NewGuid().ToString("N");
}

internal sealed class UserConfiguration : IEntityTypeConfiguration<User>
{
    public void Configure(EntityTypeBuilder<User> builder)
    {
        builder.ToTable("users");
        builder.HasKey(user => user.Id);
        builder.Property(user => user.Email).HasMaxLength(320);
        builder.Property(user => user.NormalizedEmail).HasMaxLength(320);
        builder.Property(user => user.PasswordHash).HasMaxLength(512);
        builder.Property(user => user.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(user => user.SecurityStamp).HasMaxLength(64);
        // Note: login looks users up by normalised email, so it is unique and indexed.
        builder.HasIndex(user => user.NormalizedEmail).IsUnique();
    }
}
