using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace OAuthServer.Accounts;

/// <summary>
/// A browser in which a user signed in successfully, named by the device cookie (OWASP "Slow Down Online
/// Guessing Attacks with Device Cookies"). Sign-ins for that user from that browser skip the account's automatic
/// lockout, so a stranger can't lock the owner out, and have a failure budget of their own instead.
/// </summary>
internal sealed class LoginDevice
{
    /// <summary>The random id the device cookie carries (sealed by Data Protection).</summary>
    public Guid DeviceId { get; set; }

    public Guid UserId { get; set; }

    /// <summary>Password checks reserved from this device since its last success or lock.</summary>
    public int FailedLoginCount { get; set; }

    public DateTime? LockedUntil { get; set; }

    public int LockoutCount { get; set; }

    public DateTime LastSignInAt { get; set; }
}

internal sealed class LoginDeviceConfiguration : IEntityTypeConfiguration<LoginDevice>
{
    public void Configure(EntityTypeBuilder<LoginDevice> builder)
    {
        builder.ToTable("login_devices");
        // Note: one browser can be trusted for several users (a shared computer), each with its own budget.
        builder.HasKey(device => new { device.DeviceId, device.UserId });
        builder.HasIndex(device => device.UserId);
        builder.HasOne<User>().WithMany().HasForeignKey(device => device.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
