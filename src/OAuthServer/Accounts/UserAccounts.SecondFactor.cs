using Microsoft.EntityFrameworkCore;
using OAuthServer.Events;

namespace OAuthServer.Accounts;

/// <summary>What one check of a second factor (or of the password, on the account page) came to.</summary>
internal enum FactorCheck
{
    Verified,

    /// <summary>Wrong: one check of the failure budget spent.</summary>
    Wrong,

    /// <summary>The budget is locked: nothing was checked.</summary>
    Locked,
}

// A second factor is checked like a password (threat model 1.2): a wrong code spends the same failure budget (the
// account's, or a trusted device's for that account) and ends in the same lockout, so knowing the password doesn't
// buy an unlimited code oracle.
internal sealed partial class UserAccounts
{
    /// <summary>
    /// Reserves one check of the budget, runs <paramref name="verify"/> (which spends the code on success) and
    /// commits: a failure raises factor.failed and may lock, a success raises factor.verified and resets the budget,
    /// unless the account was locked or changed meanwhile.
    /// </summary>
    public async Task<FactorCheck> CheckSecondFactorAsync(
        User user, Guid? trustedDevice, string method, Func<CancellationToken, Task<bool>> verify, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var budget = new FailureBudget(db, user.Id, trustedDevice, lockout.Value.MaxFailures);
        if (!await budget.ReserveAsync(Now, cancellationToken))
        {
            await LockIfSpentAsync(budget, origin);
            await FactorFailedAsync(user.Id, method, "locked", origin);
            return FactorCheck.Locked;
        }

        bool verified;
        try
        {
            verified = await verify(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Note: the client hung up before its code was judged: give the reservation back.
            await budget.RefundAsync(Now, CancellationToken.None);
            throw;
        }

        if (!verified)
        {
            await FactorFailedAsync(user.Id, method, "wrong_code", origin);
            await LockIfSpentAsync(budget, origin);
            return FactorCheck.Wrong;
        }

        var now = Now;
        var stamp = user.SecurityStamp;
        var committed = budget.IsDevice
            ? await budget.ResetDeviceAsync(now, CancellationToken.None)
            : await db.Users
                .Where(row => row.Id == user.Id && row.Status == AccountStatus.Active && row.SecurityStamp == stamp
                    && (row.LockedUntil == null || row.LockedUntil <= now))
                .ExecuteUpdateAsync(set => set
                    .SetProperty(row => row.FailedLoginCount, 0)
                    .SetProperty(row => row.LockoutCount, 0)
                    .SetProperty(row => row.LockedUntil, (DateTime?)null), CancellationToken.None) == 1;
        if (!committed)
        {
            await FactorFailedAsync(user.Id, method, "locked_during_check", origin);
            return FactorCheck.Locked;
        }

        events.Add(SecurityEventTypes.FactorVerified, origin, user.Id, new { method });
        await db.SaveChangesAsync(CancellationToken.None);
        metrics.SecondFactorVerifications.Add(1, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("result", "success"));
        return FactorCheck.Verified;
    }

    /// <summary>
    /// Checks the signed-in person's password for an account-page action that needs it (removing a second factor),
    /// on the sign-in's failure budget (the trusted browser's own, else the account's). A success gives its reservation back and changes nothing else.
    /// </summary>
    public async Task<FactorCheck> CheckOwnPasswordAsync(
        User user, Guid? trustedDevice, string password, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var (check, budget) = await CheckCurrentPasswordAsync(user, trustedDevice, password, origin, cancellationToken);
        if (check == FactorCheck.Verified)
        {
            await budget.RefundAsync(Now, CancellationToken.None);
        }

        return check;
    }

    /// <summary>The device of the request's device cookie if it is trusted for <paramref name="userId"/>, else null.</summary>
    public async Task<Guid?> TrustedDeviceForAsync(Guid userId, Guid? device, CancellationToken cancellationToken = default) =>
        device is { } id && await db.LoginDevices.AnyAsync(row => row.DeviceId == id && row.UserId == userId, cancellationToken) ? id : null;

    private async Task FactorFailedAsync(Guid userId, string method, string reason, RequestOrigin origin)
    {
        events.Add(SecurityEventTypes.FactorFailed, origin, userId, new { method, reason });
        await db.SaveChangesAsync(CancellationToken.None);
        metrics.SecondFactorVerifications.Add(1, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("result", "failure"));
        LogFactorFailed(logger, userId, method, reason, origin.Ip, origin.UserAgent);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit factor.failed user {UserId} method {Method} reason {Reason} from {Ip} ({UserAgent})")]
    private static partial void LogFactorFailed(ILogger logger, Guid userId, string method, string reason, string? ip, string? userAgent);
}
