using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OpenIddict.Abstractions;

namespace OAuthServer.Accounts;

/// <summary>Why creating or changing an account was refused, in words a person can act on.</summary>
internal sealed record AccountError(string Code, string Message)
{
    public static AccountError NotFound { get; } = new("not_found", "No such user.");
}

/// <summary>The outcome of a sign-in attempt. A failure never says why, to the caller or to the page.</summary>
internal sealed record SignInOutcome(User? User)
{
    public bool Succeeded => User is not null;
}

/// <summary>
/// Every change to an account and every credential check. Each change writes its security event into the same
/// unit of work, and the audit log line beside it; neither ever carries the password.
/// </summary>
internal sealed partial class UserAccounts(
    OAuthDbContext db,
    IPasswordHasher hasher,
    AccountGate gate,
    TimeProvider clock,
    IOptions<LockoutOptions> lockout,
    SecurityEvents events,
    IOpenIddictAuthorizationManager authorizations,
    IOpenIddictTokenManager tokens,
    OAuthMetrics metrics,
    ILogger<UserAccounts> logger)
{
    // Far above any real password in UTF-16 units; longer input is cut before hashing so it can't cost more.
    private const int MaximumInputLength = 1024;

    public async Task<(User? User, AccountError? Error)> CreateAsync(string email, string password, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        if (!EmailAddress.IsValid(email))
        {
            return (null, new("invalid_email", "The email address is not valid."));
        }

        if (PasswordPolicy.Check(password, email) is { } passwordError)
        {
            return (null, passwordError);
        }

        var normalized = EmailAddress.Normalize(email);
        if (await db.Users.AnyAsync(user => user.NormalizedEmail == normalized, cancellationToken))
        {
            return (null, DuplicateEmail);
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var created = new User
        {
            Email = email.Trim(),
            NormalizedEmail = normalized,
            PasswordHash = await hasher.HashAsync(password, cancellationToken),
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Users.Add(created);
        events.Add(SecurityEventTypes.UserCreated, origin, created.Id);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Note: two concurrent creations of one email: the unique index decides, and the loser is told so.
            return (null, DuplicateEmail);
        }

        LogAudit(logger, SecurityEventTypes.UserCreated, created.Id, origin.Ip, origin.UserAgent);
        return (created, null);
    }

    public Task<User?> FindAsync(Guid id, CancellationToken cancellationToken = default) =>
        db.Users.SingleOrDefaultAsync(user => user.Id == id, cancellationToken);

    /// <summary>The user a token or session names by its <c>sub</c>; null for a missing or foreign subject.</summary>
    public async Task<User?> FindBySubjectAsync(string? subject, CancellationToken cancellationToken = default) =>
        Guid.TryParse(subject, out var id) ? await FindAsync(id, cancellationToken) : null;

    public Task<User?> FindByEmailAsync(string email, CancellationToken cancellationToken = default)
    {
        var normalized = EmailAddress.Normalize(email);
        return db.Users.SingleOrDefaultAsync(user => user.NormalizedEmail == normalized, cancellationToken);
    }

    /// <summary>
    /// Checks an email and password. Every failure looks the same to the caller (threat model 4.2): an unknown
    /// email costs one Argon2 verification against a dummy hash, exactly like a known one, and a locked or
    /// disabled account is verified too before it is refused.
    /// </summary>
    public async Task<SignInOutcome> SignInAsync(string email, string password, RequestOrigin origin, CancellationToken cancellationToken = default)
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

        var check = await hasher.VerifyAsync(user.PasswordHash, password, cancellationToken);
        var verdict = gate.Check(user);
        if (verdict != GateVerdict.Allowed)
        {
            // Note: attempts against a locked account don't extend the lock; they are refused and recorded.
            await FailAsync(user.Id, verdict.ToString().ToLowerInvariant(), origin, cancellationToken);
            return new(null);
        }

        if (check == PasswordCheck.Failed)
        {
            await CountFailureAsync(user, origin, cancellationToken);
            await FailAsync(user.Id, "wrong_password", origin, cancellationToken);
            return new(null);
        }

        if (user.FailedLoginCount != 0 || user.LockoutCount != 0 || user.LockedUntil is not null)
        {
            await db.Users.Where(row => row.Id == user.Id).ExecuteUpdateAsync(set => set
                .SetProperty(row => row.FailedLoginCount, 0)
                .SetProperty(row => row.LockoutCount, 0)
                .SetProperty(row => row.LockedUntil, (DateTime?)null), cancellationToken);
        }

        if (check == PasswordCheck.SucceededRehashNeeded)
        {
            // Note: the parameters or the pepper moved on since this hash was made; upgrade it now that we
            // hold the password (architecture §3).
            user.PasswordHash = await hasher.HashAsync(password, cancellationToken);
            user.UpdatedAt = clock.GetUtcNow().UtcDateTime;
        }

        events.Add(SecurityEventTypes.LoginSucceeded, origin, user.Id);
        await db.SaveChangesAsync(cancellationToken);
        metrics.LoginAttempts.Add(1, new KeyValuePair<string, object?>("result", "success"));
        LogAudit(logger, SecurityEventTypes.LoginSucceeded, user.Id, origin.Ip, origin.UserAgent);
        return new(user);
    }

    public async Task<AccountError?> DisableAsync(Guid id, RequestOrigin origin, CancellationToken cancellationToken = default) =>
        await ChangeAsync(id, SecurityEventTypes.AccountDisabled, origin, revokeSessions: true, user =>
        {
            user.Status = AccountStatus.Disabled;
            return null;
        }, cancellationToken);

    public async Task<AccountError?> EnableAsync(Guid id, RequestOrigin origin, CancellationToken cancellationToken = default) =>
        await ChangeAsync(id, SecurityEventTypes.AccountEnabled, origin, revokeSessions: false, user =>
        {
            user.Status = AccountStatus.Active;
            return null;
        }, cancellationToken);

    public async Task<AccountError?> UnlockAsync(Guid id, RequestOrigin origin, CancellationToken cancellationToken = default) =>
        await ChangeAsync(id, SecurityEventTypes.AccountUnlocked, origin, revokeSessions: false, user =>
        {
            user.LockedUntil = null;
            user.FailedLoginCount = 0;
            user.LockoutCount = 0;
            return null;
        }, cancellationToken);

    public async Task<AccountError?> SetPasswordAsync(Guid id, string password, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var user = await FindAsync(id, cancellationToken);
        if (user is null)
        {
            return AccountError.NotFound;
        }

        if (PasswordPolicy.Check(password, user.Email) is { } policyError)
        {
            return policyError;
        }

        var hash = await hasher.HashAsync(password, cancellationToken);
        return await ChangeAsync(id, SecurityEventTypes.PasswordChanged, origin, revokeSessions: true, changed =>
        {
            changed.PasswordHash = hash;
            changed.FailedLoginCount = 0;
            return null;
        }, cancellationToken);
    }

    /// <summary>Deletes a user, revoking their authorizations and tokens in the same transaction.</summary>
    public async Task<AccountError?> DeleteAsync(Guid id, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var user = await FindAsync(id, cancellationToken);
        if (user is null)
        {
            return AccountError.NotFound;
        }

        db.Users.Remove(user);
        events.Add(SecurityEventTypes.UserDeleted, origin, user.Id);
        await db.SaveChangesAsync(cancellationToken);
        // Note: a deleted user's refresh tokens must die with the account, even though the account gate would
        // refuse them anyway: a later user can never inherit them.
        var subject = user.Id.ToString();
        await authorizations.RevokeBySubjectAsync(subject, cancellationToken);
        await tokens.RevokeBySubjectAsync(subject, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        LogAudit(logger, SecurityEventTypes.UserDeleted, user.Id, origin.Ip, origin.UserAgent);
        return null;
    }

    /// <summary>
    /// Emergency (ops/runbooks/key-rotation.md): ends every browser session at once by giving every user a new
    /// security stamp, so each user's next authorize request signs in again. Tokens are not touched here
    /// (<c>tokens revoke-all</c> does that). Returns how many users were signed out.
    /// </summary>
    public async Task<int> SignOutEveryoneAsync(RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        // Note: one fresh random stamp for everyone is enough: a stamp only has to differ from the one inside
        // each existing cookie, and cookies are sealed by Data Protection, so nobody can mint one carrying it.
        var stamp = User.NewSecurityStamp();
        var now = clock.GetUtcNow().UtcDateTime;
        var count = await db.Users.ExecuteUpdateAsync(set => set
            .SetProperty(user => user.SecurityStamp, stamp)
            .SetProperty(user => user.UpdatedAt, now), cancellationToken);
        LogSignedOutEveryone(logger, count, origin.Ip, origin.UserAgent);
        return count;
    }

    // One shape for every administrative change: load, change, record the event, and (for changes that must
    // end sessions) rotate the security stamp and revoke the user's authorizations and tokens, all in one
    // transaction, so a disabled user keeps no refresh token and no browser session.
    private async Task<AccountError?> ChangeAsync(
        Guid id, string eventType, RequestOrigin origin, bool revokeSessions, Func<User, AccountError?> change, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var user = await FindAsync(id, cancellationToken);
        if (user is null)
        {
            return AccountError.NotFound;
        }

        if (change(user) is { } error)
        {
            return error;
        }

        user.UpdatedAt = clock.GetUtcNow().UtcDateTime;
        if (revokeSessions)
        {
            user.SecurityStamp = User.NewSecurityStamp();
        }

        events.Add(eventType, origin, user.Id);
        await db.SaveChangesAsync(cancellationToken);
        if (revokeSessions)
        {
            var subject = user.Id.ToString();
            await authorizations.RevokeBySubjectAsync(subject, cancellationToken);
            await tokens.RevokeBySubjectAsync(subject, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        LogAudit(logger, eventType, user.Id, origin.Ip, origin.UserAgent);
        return null;
    }

    // Threat model 1.2: lockout with progressive backoff, in the database so every node sees it. The counter is
    // incremented by the database itself, so parallel failures can't lose an update, and the lock is taken by a
    // guarded update, so exactly one of several concurrent failures locks the account.
    private async Task CountFailureAsync(User user, RequestOrigin origin, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        await db.Users.Where(row => row.Id == user.Id && (row.LockedUntil == null || row.LockedUntil <= now))
            .ExecuteUpdateAsync(set => set.SetProperty(row => row.FailedLoginCount, row => row.FailedLoginCount + 1), cancellationToken);

        var state = await db.Users.AsNoTracking().Where(row => row.Id == user.Id)
            .Select(row => new { row.FailedLoginCount, row.LockoutCount }).SingleAsync(cancellationToken);
        var settings = lockout.Value;
        if (state.FailedLoginCount < settings.MaxFailures)
        {
            return;
        }

        var duration = settings.DurationAfter(state.LockoutCount);
        var until = now + duration;
        // Note: the lock and its account.locked event are one transaction, so the event exists if and only if
        // the lock was committed. CancellationToken.None from here on: a client that hangs up after the lock
        // is taken must not be able to drop the event (or leave the transaction half-way).
        var locked = await db.InTransactionAsync(async () =>
        {
            var changed = await db.Users
                .Where(row => row.Id == user.Id && row.FailedLoginCount >= settings.MaxFailures && row.LockoutCount == state.LockoutCount)
                .ExecuteUpdateAsync(set => set
                    .SetProperty(row => row.LockedUntil, until)
                    .SetProperty(row => row.FailedLoginCount, 0)
                    .SetProperty(row => row.LockoutCount, state.LockoutCount + 1), CancellationToken.None);
            if (changed == 1)
            {
                events.Add(SecurityEventTypes.AccountLocked, origin, user.Id, new { locked_until = until, duration_seconds = (long)duration.TotalSeconds });
                await db.SaveChangesAsync(CancellationToken.None);
            }

            return changed == 1;
        }, CancellationToken.None);
        if (locked)
        {
            metrics.Lockouts.Add(1);
            LogLocked(logger, user.Id, until, origin.Ip, origin.UserAgent);
        }
    }

    private async Task FailAsync(Guid? userId, string reason, RequestOrigin origin, CancellationToken cancellationToken)
    {
        events.Add(SecurityEventTypes.LoginFailed, origin, userId, new { reason });
        await db.SaveChangesAsync(cancellationToken);
        metrics.LoginAttempts.Add(1, new KeyValuePair<string, object?>("result", "failure"));
        LogLoginFailed(logger, userId, reason, origin.Ip, origin.UserAgent);
    }

    private static AccountError DuplicateEmail { get; } = new("duplicate_email", "A user with this email already exists.");

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit users.sign_out_all {Count} users from {Ip} ({UserAgent})")]
    private static partial void LogSignedOutEveryone(ILogger logger, int count, string? ip, string? userAgent);

    [LoggerMessage(Level = LogLevel.Information, Message = "audit {Action} user {UserId} from {Ip} ({UserAgent})")]
    private static partial void LogAudit(ILogger logger, string action, Guid userId, string? ip, string? userAgent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit login.failed user {UserId} reason {Reason} from {Ip} ({UserAgent})")]
    private static partial void LogLoginFailed(ILogger logger, Guid? userId, string reason, string? ip, string? userAgent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit account.locked user {UserId} until {LockedUntil:o} from {Ip} ({UserAgent})")]
    private static partial void LogLocked(ILogger logger, Guid userId, DateTime lockedUntil, string? ip, string? userAgent);
}
