using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OpenIddict.Abstractions;

namespace OAuthServer.Accounts;

// The credential check (threat model 1.2 and 4.2): one sign-in attempt, the lockout check it reserves, and what it
// commits. The account changes are in UserAccounts.cs.
internal sealed partial class UserAccounts
{
    // Far above any real password in UTF-16 units; longer input is cut before hashing so it can't cost more.
    private const int MaximumInputLength = 1024;

    /// <summary>
    /// The device of <paramref name="device"/> if it is trusted for the user of <paramref name="email"/> (a
    /// device cookie that user was given); null for no cookie, an unknown email, or another user's device.
    /// </summary>
    public async Task<Guid?> TrustedDeviceAsync(string email, Guid? device, CancellationToken cancellationToken = default)
    {
        if (device is not { } id || !EmailAddress.IsValid(email))
        {
            return null;
        }

        var normalized = EmailAddress.Normalize(email);
        var trusted = await db.LoginDevices.AnyAsync(
            row => row.DeviceId == id && db.Users.Any(user => user.Id == row.UserId && user.NormalizedEmail == normalized), cancellationToken);
        return trusted ? id : null;
    }

    /// <summary>
    /// Checks an email and password. Every failure looks the same to the caller and costs one Argon2
    /// verification (threat model 4.2): an unknown email, a locked or disabled account verify against a dummy
    /// hash, exactly like a known one.
    /// </summary>
    /// <remarks>
    /// Threat model 1.2: before its hash runs, each attempt reserves one of the budget's
    /// <see cref="LockoutOptions.MaxFailures"/> checks with a guarded update in the database, so however many
    /// attempts run at once (on however many nodes) at most that many guesses are evaluated per lock. The budget
    /// is the account's, or, for a browser whose device cookie <paramref name="trustedDevice"/> names, that
    /// device's own: a stranger's failures then neither block nor spend the owner's sign-in. A success commits
    /// only through a guarded update, so it can't commit over a lock or an account state taken meanwhile.
    /// <paramref name="presentedDevice"/> is the browser's device cookie, trusted for this user or not: a success
    /// trusts that device for this user too.
    /// </remarks>
    public async Task<SignInOutcome> SignInAsync(
        string email, string password, Guid? trustedDevice, Guid? presentedDevice, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        if (password.Length > MaximumInputLength)
        {
            password = password[..MaximumInputLength];
        }

        var user = EmailAddress.IsValid(email) ? await FindByEmailAsync(email, cancellationToken) : null;
        if (user is null)
        {
            await hasher.VerifyDummyAsync(password, cancellationToken);
            await FailAsync(null, "unknown_user", origin, cancellationToken);
            return new(null);
        }

        var verdict = gate.Check(user);
        if (verdict != GateVerdict.Allowed)
        {
            await hasher.VerifyDummyAsync(password, cancellationToken);
            await FailAsync(user.Id, verdict == GateVerdict.Locked ? "operator_locked" : "disabled", origin, cancellationToken);
            return new(null);
        }

        var budget = new FailureBudget(db, user.Id, trustedDevice, lockout.Value.MaxFailures);
        if (!await budget.ReserveAsync(Now, cancellationToken))
        {
            // Note: a locked budget's password is never checked; the dummy keeps the work (and the answer) the same.
            await hasher.VerifyDummyAsync(password, cancellationToken);
            await LockIfSpentAsync(budget, origin);
            await FailAsync(user.Id, budget.IsDevice ? "device_locked" : "locked", origin, CancellationToken.None);
            return new(null);
        }

        PasswordCheck check;
        try
        {
            check = await hasher.VerifyAsync(user.PasswordHash, password, cancellationToken);
        }
        catch (Exception exception) when (exception is AuthBusyException or OperationCanceledException)
        {
            // Note: the hash never ran ("auth busy", or the client hung up while waiting), so no guess was
            // evaluated: give the reservation back.
            await budget.RefundAsync(Now, CancellationToken.None);
            throw;
        }

        // Note: from here on CancellationToken.None: a client that hangs up once its guess was evaluated must not
        // be able to drop the failure's event or the lock.
        if (check == PasswordCheck.Failed)
        {
            await FailAsync(user.Id, "wrong_password", origin, CancellationToken.None);
            await LockIfSpentAsync(budget, origin);
            return new(null);
        }

        var newHash = check == PasswordCheck.SucceededRehashNeeded
            // Note: the parameters or the pepper moved on since this hash was made; upgrade it now that we hold
            // the password (architecture §3).
            ? await hasher.HashAsync(password, CancellationToken.None)
            : null;
        // Note: a correct password of a person with a second factor is half a sign-in: it costs no check of the
        // budget, but it resets nothing either. The failed checks stand until the second factor succeeds, so knowing
        // the password buys no fresh round of code guesses (threat model 1.2).
        var secondFactorFollows = (await factors.EnrolledAsync(user.Id, CancellationToken.None)).Any;
        var device = await SucceedAsync(user, budget, newHash, presentedDevice, secondFactorFollows, origin);
        if (device is null)
        {
            await FailAsync(user.Id, "locked_during_check", origin, CancellationToken.None);
            return new(null);
        }

        metrics.LoginAttempts.Add(1, new KeyValuePair<string, object?>("result", "success"));
        var logged = PasswordStepEvent(secondFactorFollows);
        LogAudit(logger, logged, user.Id, origin.Ip, origin.UserAgent);
        return new(user, device, secondFactorFollows);
    }

    // The success of a reserved check, as one transaction: a guarded update that holds only while the account is
    // still active with the same security stamp (no operator lock, disable or password change since it was read)
    // and the budget is not locked; then the budget is reset (or, when a second factor follows, only this check is
    // given back) and the device trusted. Returns the device for the browser's cookie, or null when the success
    // lost to a lock or a state change.
    private Task<Guid?> SucceedAsync(User user, FailureBudget budget, string? newHash, Guid? presentedDevice, bool secondFactorFollows, RequestOrigin origin) =>
        db.InTransactionAsync(async () =>
        {
            var now = Now;
            var stamp = user.SecurityStamp;
            var accountBudget = !budget.IsDevice;
            var updated = await db.Users
                .Where(row => row.Id == user.Id && row.Status == AccountStatus.Active && row.SecurityStamp == stamp
                    && (!accountBudget || row.LockedUntil == null || row.LockedUntil <= now))
                .ExecuteUpdateAsync(set =>
                {
                    set.SetProperty(row => row.Status, AccountStatus.Active);
                    // Note: a device's success leaves the account's lockout alone: it was not the account's budget.
                    if (accountBudget && secondFactorFollows)
                    {
                        set.SetProperty(row => row.FailedLoginCount, row => row.FailedLoginCount > 0 ? row.FailedLoginCount - 1 : 0);
                    }
                    else if (accountBudget)
                    {
                        set.SetProperty(row => row.FailedLoginCount, 0)
                            .SetProperty(row => row.LockoutCount, 0)
                            .SetProperty(row => row.LockedUntil, (DateTime?)null);
                    }

                    if (newHash is not null)
                    {
                        set.SetProperty(row => row.PasswordHash, newHash).SetProperty(row => row.UpdatedAt, now);
                    }
                }, CancellationToken.None);
            if (updated != 1)
            {
                return null;
            }

            if (budget.IsDevice && secondFactorFollows)
            {
                await budget.RefundAsync(now, CancellationToken.None);
            }
            else if (budget.IsDevice && !await budget.ResetDeviceAsync(now, CancellationToken.None))
            {
                return null;
            }

            var device = budget.Device ?? await TrustDeviceAsync(presentedDevice, user.Id, now);
            events.Add(PasswordStepEvent(secondFactorFollows), origin, user.Id);
            await db.SaveChangesAsync(CancellationToken.None);
            return (Guid?)device;
        }, CancellationToken.None);

    // Note: a password alone is no sign-in for an account with a second factor; whoever watches the events must not
    // see one succeed for a stranger who knows only the password. The login.succeeded comes with the second factor.
    private static string PasswordStepEvent(bool secondFactorFollows) =>
        secondFactorFollows ? SecurityEventTypes.LoginSecondFactorRequired : SecurityEventTypes.LoginSucceeded;

    // Note: a browser that already holds a device cookie (sealed by us, so its id is genuine) keeps its id, and this
    // user is added to the users it is trusted for: on a shared browser each user keeps the budget of their own.
    private async Task<Guid> TrustDeviceAsync(Guid? presentedDevice, Guid userId, DateTime now)
    {
        // Note: devices unused for longer than the cookie lives can't be presented any more; drop them here, so a
        // user's list stays as long as their browsers.
        var stale = now - lockout.Value.DeviceCookieLifetime;
        await db.LoginDevices.Where(row => row.UserId == userId && row.LastSignInAt < stale).ExecuteDeleteAsync(CancellationToken.None);
        if (presentedDevice is { } presented
            && await db.LoginDevices.AnyAsync(row => row.DeviceId == presented && row.UserId == userId, CancellationToken.None))
        {
            return presented;
        }

        var device = new LoginDevice { DeviceId = presentedDevice ?? Guid.NewGuid(), UserId = userId, LastSignInAt = now };
        db.LoginDevices.Add(device);
        return device.DeviceId;
    }

    // Threat model 1.2: lockout with progressive backoff, in the database so every node sees it. Once a budget's
    // checks are all reserved (by failures, or by attempts still in flight or lost in a crash), the first attempt
    // to notice takes the lock with a guarded update, so exactly one of several concurrent attempts locks it.
    // CancellationToken.None: a client that hangs up must not be able to drop the lock or its event.
    private async Task LockIfSpentAsync(FailureBudget budget, RequestOrigin origin)
    {
        var now = Now;
        var state = await budget.ReadAsync(CancellationToken.None);
        if (state is null || state.Value.Failures < budget.MaxFailures || state.Value.LockedUntil > now)
        {
            return;
        }

        var duration = lockout.Value.DurationAfter(state.Value.Lockouts);
        var until = now + duration;
        // Note: the lock and its account.locked event are one transaction, so the event exists if and only if
        // the lock was committed.
        var locked = await db.InTransactionAsync(async () =>
        {
            if (!await budget.LockAsync(now, until, state.Value.Lockouts, CancellationToken.None))
            {
                return false;
            }

            events.Add(SecurityEventTypes.AccountLocked, origin, budget.UserId, new
            {
                cause = budget.IsDevice ? "device_failed_logins" : "failed_logins",
                locked_until = until,
                duration_seconds = (long)duration.TotalSeconds,
            });
            await db.SaveChangesAsync(CancellationToken.None);
            return true;
        }, CancellationToken.None);
        if (locked)
        {
            metrics.Lockouts.Add(1);
            LogLocked(logger, budget.UserId, until, origin.Ip, origin.UserAgent);
        }
    }

    private async Task FailAsync(Guid? userId, string reason, RequestOrigin origin, CancellationToken cancellationToken)
    {
        events.Add(SecurityEventTypes.LoginFailed, origin, userId, new { reason });
        await db.SaveChangesAsync(cancellationToken);
        metrics.LoginAttempts.Add(1, new KeyValuePair<string, object?>("result", "failure"));
        LogLoginFailed(logger, userId, reason, origin.Ip, origin.UserAgent);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit login.failed user {UserId} reason {Reason} from {Ip} ({UserAgent})")]
    private static partial void LogLoginFailed(ILogger logger, Guid? userId, string reason, string? ip, string? userAgent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit account.locked user {UserId} until {LockedUntil:o} from {Ip} ({UserAgent})")]
    private static partial void LogLocked(ILogger logger, Guid userId, DateTime lockedUntil, string? ip, string? userAgent);
}
