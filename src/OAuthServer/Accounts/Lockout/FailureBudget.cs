using Microsoft.EntityFrameworkCore;
using OAuthServer.Data;

namespace OAuthServer.Accounts;

/// <summary>
/// The failed-password budget a sign-in attempt spends: the account's, or one trusted device's for that account.
/// Every step is one guarded update in the database, so concurrent attempts on any node can't overspend it.
/// </summary>
internal sealed class FailureBudget(OAuthDbContext db, Guid userId, Guid? device, int maxFailures)
{
    public Guid UserId => userId;

    public Guid? Device => device;

    public bool IsDevice => device is not null;

    public int MaxFailures => maxFailures;

    /// <summary>Takes one check, unless the budget is locked or every check is already taken.</summary>
    public async Task<bool> ReserveAsync(DateTime now, CancellationToken cancellationToken) => device is { } id
        ? await db.LoginDevices
            .Where(row => row.DeviceId == id && row.UserId == userId && (row.LockedUntil == null || row.LockedUntil <= now) && row.FailedLoginCount < maxFailures)
            .ExecuteUpdateAsync(set => set.SetProperty(row => row.FailedLoginCount, row => row.FailedLoginCount + 1), cancellationToken) == 1
        : await db.Users
            .Where(row => row.Id == userId && (row.LockedUntil == null || row.LockedUntil <= now) && row.FailedLoginCount < maxFailures)
            .ExecuteUpdateAsync(set => set.SetProperty(row => row.FailedLoginCount, row => row.FailedLoginCount + 1), cancellationToken) == 1;

    /// <summary>Gives back a check whose hash never ran (unless a lock has reset the count since).</summary>
    public async Task RefundAsync(DateTime now, CancellationToken cancellationToken)
    {
        if (device is { } id)
        {
            await db.LoginDevices
                .Where(row => row.DeviceId == id && row.UserId == userId && (row.LockedUntil == null || row.LockedUntil <= now) && row.FailedLoginCount > 0)
                .ExecuteUpdateAsync(set => set.SetProperty(row => row.FailedLoginCount, row => row.FailedLoginCount - 1), cancellationToken);
        }
        else
        {
            await db.Users
                .Where(row => row.Id == userId && (row.LockedUntil == null || row.LockedUntil <= now) && row.FailedLoginCount > 0)
                .ExecuteUpdateAsync(set => set.SetProperty(row => row.FailedLoginCount, row => row.FailedLoginCount - 1), cancellationToken);
        }
    }

    public async Task<(int Failures, int Lockouts, DateTime? LockedUntil)?> ReadAsync(CancellationToken cancellationToken)
    {
        if (device is { } id)
        {
            var row = await db.LoginDevices.AsNoTracking().Where(row => row.DeviceId == id && row.UserId == userId)
                .Select(row => new { row.FailedLoginCount, row.LockoutCount, row.LockedUntil }).SingleOrDefaultAsync(cancellationToken);
            return row is null ? null : (row.FailedLoginCount, row.LockoutCount, row.LockedUntil);
        }

        var user = await db.Users.AsNoTracking().Where(row => row.Id == userId)
            .Select(row => new { row.FailedLoginCount, row.LockoutCount, row.LockedUntil }).SingleOrDefaultAsync(cancellationToken);
        return user is null ? null : (user.FailedLoginCount, user.LockoutCount, user.LockedUntil);
    }

    /// <summary>Locks the budget until <paramref name="until"/> if it is still spent and nobody else locked it.</summary>
    public async Task<bool> LockAsync(DateTime now, DateTime until, int lockouts, CancellationToken cancellationToken) => device is { } id
        ? await db.LoginDevices
            .Where(row => row.DeviceId == id && row.UserId == userId && row.FailedLoginCount >= maxFailures && row.LockoutCount == lockouts
                && (row.LockedUntil == null || row.LockedUntil <= now))
            .ExecuteUpdateAsync(set => set
                .SetProperty(row => row.LockedUntil, until)
                .SetProperty(row => row.FailedLoginCount, 0)
                .SetProperty(row => row.LockoutCount, lockouts + 1), cancellationToken) == 1
        : await db.Users
            .Where(row => row.Id == userId && row.FailedLoginCount >= maxFailures && row.LockoutCount == lockouts
                && (row.LockedUntil == null || row.LockedUntil <= now))
            .ExecuteUpdateAsync(set => set
                .SetProperty(row => row.LockedUntil, until)
                .SetProperty(row => row.FailedLoginCount, 0)
                .SetProperty(row => row.LockoutCount, lockouts + 1), cancellationToken) == 1;

    /// <summary>A device's success: its budget starts again, unless it was locked meanwhile.</summary>
    public async Task<bool> ResetDeviceAsync(DateTime now, CancellationToken cancellationToken) => device is { } id
        && await db.LoginDevices
            .Where(row => row.DeviceId == id && row.UserId == userId && (row.LockedUntil == null || row.LockedUntil <= now))
            .ExecuteUpdateAsync(set => set
                .SetProperty(row => row.FailedLoginCount, 0)
                .SetProperty(row => row.LockoutCount, 0)
                .SetProperty(row => row.LockedUntil, (DateTime?)null)
                .SetProperty(row => row.LastSignInAt, now), cancellationToken) == 1;
}
