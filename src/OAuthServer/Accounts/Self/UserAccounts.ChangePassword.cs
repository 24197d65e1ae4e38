using Microsoft.EntityFrameworkCore;
using OAuthServer.Data;
using OAuthServer.Events;

namespace OAuthServer.Accounts;

/// <summary>What a change of one's own password came to.</summary>
internal enum PasswordChangeResult
{
    Changed,

    /// <summary>The new password breaks the policy: nothing was checked or spent.</summary>
    Refused,

    /// <summary>The current password was wrong (one check of the account's failure budget spent).</summary>
    WrongCurrentPassword,

    /// <summary>The account's failure budget is locked: the current password was not checked.</summary>
    Locked,

    /// <summary>The account changed meanwhile (another change won, a disable, a lock): nothing was written.</summary>
    Conflict,
}

internal sealed record PasswordChange(PasswordChangeResult Result, User? User = null, Problem? Problem = null);

// A person changing their own password on the account page (threat model 1.2 and 1.3). The current password is
// checked exactly like a sign-in (the account's failure budget reserved first, the same Argon2 path and limiter),
// because a stolen session cookie must not become an unlimited password oracle.
internal sealed partial class UserAccounts
{
    /// <summary>
    /// Checks <paramref name="currentPassword"/> and sets <paramref name="newPassword"/>; on success the security
    /// stamp is new (every other session is over), every session record is ended, and every authorization and token
    /// of the user is revoked, as after an administrator's password change. The caller starts a new session for the
    /// browser in front of it with the returned user. <paramref name="trustedDevice"/> is the browser's device if the
    /// user trusts it (<see cref="TrustedDeviceForAsync"/>): its own failure budget, as at the sign-in page.
    /// </summary>
    public async Task<PasswordChange> ChangeOwnPasswordAsync(
        User user, Guid? trustedDevice, string currentPassword, string newPassword, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        if (PasswordPolicy.Check(newPassword, user.Email) is { } problem)
        {
            return new(PasswordChangeResult.Refused, Problem: problem);
        }

        var (check, budget) = await CheckCurrentPasswordAsync(user, trustedDevice, currentPassword, origin, cancellationToken);
        if (check != FactorCheck.Verified)
        {
            return new(check == FactorCheck.Locked ? PasswordChangeResult.Locked : PasswordChangeResult.WrongCurrentPassword);
        }

        var hash = await hasher.HashAsync(newPassword, CancellationToken.None);
        var changed = await CommitOwnPasswordAsync(user, hash, origin);
        if (changed is null)
        {
            // Note: the guess was right, so it gives its check back; the change itself lost to another one.
            await budget.RefundAsync(Now, CancellationToken.None);
            return new(PasswordChangeResult.Conflict);
        }

        LogAudit(logger, SecurityEventTypes.PasswordChanged, user.Id, origin.Ip, origin.UserAgent);
        return new(PasswordChangeResult.Changed, changed);
    }

    /// <summary>
    /// Checks the signed-in person's current password (a password change, removing a second factor) like a sign-in:
    /// one check of the account's failure budget reserved before the hash, the same Argon2 path, a wrong one raising
    /// <c>login.failed</c> {wrong_current_password} and perhaps the lock. A right one keeps its reservation: the
    /// caller gives it back, or lets its own commit reset the budget. A browser the user trusts spends its own budget
    /// (threat model 1.2): a stranger who spent the account's can't keep the owner from their own account page.
    /// </summary>
    private async Task<(FactorCheck Check, FailureBudget Budget)> CheckCurrentPasswordAsync(
        User user, Guid? trustedDevice, string password, RequestOrigin origin, CancellationToken cancellationToken)
    {
        if (password.Length > MaximumInputLength)
        {
            password = password[..MaximumInputLength];
        }

        var budget = new FailureBudget(db, user.Id, trustedDevice, lockout.Value.MaxFailures);
        if (!await budget.ReserveAsync(Now, cancellationToken))
        {
            await hasher.VerifyDummyAsync(password, cancellationToken);
            await LockIfSpentAsync(budget, origin);
            await FailAsync(user.Id, "locked", origin, CancellationToken.None);
            return (FactorCheck.Locked, budget);
        }

        PasswordCheck check;
        try
        {
            check = await hasher.VerifyAsync(user.PasswordHash, password, cancellationToken);
        }
        catch (Exception exception) when (exception is AuthBusyException or OperationCanceledException)
        {
            await budget.RefundAsync(Now, CancellationToken.None);
            throw;
        }

        if (check == PasswordCheck.Failed)
        {
            await FailAsync(user.Id, "wrong_current_password", origin, CancellationToken.None);
            await LockIfSpentAsync(budget, origin);
            return (FactorCheck.Wrong, budget);
        }

        return (FactorCheck.Verified, budget);
    }

    // One transaction, guarded by the stamp that was read: of two concurrent changes (or a change racing a disable
    // or an operator lock), exactly one commits, and the other writes nothing.
    private Task<User?> CommitOwnPasswordAsync(User user, string hash, RequestOrigin origin) =>
        db.InTransactionAsync(async () =>
        {
            var now = Now;
            var stamp = User.NewSecurityStamp();
            var read = user.SecurityStamp;
            var updated = await db.Users
                .Where(row => row.Id == user.Id && row.Status == AccountStatus.Active && row.SecurityStamp == read)
                .ExecuteUpdateAsync(set => set
                    .SetProperty(row => row.PasswordHash, hash)
                    .SetProperty(row => row.SecurityStamp, stamp)
                    .SetProperty(row => row.FailedLoginCount, 0)
                    .SetProperty(row => row.UpdatedAt, now), CancellationToken.None);
            if (updated != 1)
            {
                return null;
            }

            await db.Set<SessionRecord>().Where(row => row.UserId == user.Id && row.EndedAt == null)
                .ExecuteUpdateAsync(set => set.SetProperty(row => row.EndedAt, now), CancellationToken.None);
            // Note: as for an administrator's change: trust in the user's browsers and every token go with the old
            // password, so a device or app that held it (after a compromise) is cut off.
            await db.LoginDevices.Where(row => row.UserId == user.Id).ExecuteDeleteAsync(CancellationToken.None);
            var subject = user.Id.ToString();
            await authorizations.RevokeBySubjectAsync(subject, CancellationToken.None);
            await tokens.RevokeBySubjectAsync(subject, CancellationToken.None);
            events.Add(SecurityEventTypes.PasswordChanged, origin, user.Id, new { by = "self" });
            await db.SaveChangesAsync(CancellationToken.None);
            return await db.Users.AsNoTracking().SingleAsync(row => row.Id == user.Id, CancellationToken.None);
        }, CancellationToken.None);
}
