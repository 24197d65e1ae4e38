using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OpenIddict.Abstractions;

namespace OAuthServer.Accounts;

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
    Factors.SecondFactors factors,
    ILogger<UserAccounts> logger)
{
    public async Task<Outcome<User>> CreateAsync(string email, string password, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        if (!EmailAddress.IsValid(email))
        {
            return Problem.Invalid("email", "The email address is not valid.");
        }

        if (PasswordPolicy.Check(password, email) is { } passwordProblem)
        {
            return passwordProblem;
        }

        var normalized = EmailAddress.Normalize(email);
        if (await db.Users.AnyAsync(user => user.NormalizedEmail == normalized, cancellationToken))
        {
            return DuplicateEmail;
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
            return DuplicateEmail;
        }

        LogAudit(logger, SecurityEventTypes.UserCreated, created.Id, origin.Ip, origin.UserAgent);
        return created;
    }

    // Note: compiled: every refresh and userinfo request reads its user by id (the account gate, threat model 1.3).
    private static readonly CompiledQuery<OAuthDbContext, Guid, User?> ById =
        new((db, id, cancellationToken) => db.Users.AsTracking().SingleOrDefault(user => user.Id == id));

    public Task<User?> FindAsync(Guid id, CancellationToken cancellationToken = default) =>
        ById.RunAsync(db, id, cancellationToken);

    /// <summary>The user a token or session names by its <c>sub</c>; null for a missing or foreign subject.</summary>
    public async Task<User?> FindBySubjectAsync(string? subject, CancellationToken cancellationToken = default) =>
        Guid.TryParse(subject, out var id) ? await FindAsync(id, cancellationToken) : null;

    public Task<User?> FindByEmailAsync(string email, CancellationToken cancellationToken = default)
    {
        var normalized = EmailAddress.Normalize(email);
        return db.Users.SingleOrDefaultAsync(user => user.NormalizedEmail == normalized, cancellationToken);
    }

    public Task<Outcome> DisableAsync(Guid id, RequestOrigin origin, CancellationToken cancellationToken = default) =>
        ChangeAsync(id, SecurityEventTypes.AccountDisabled, origin, revokeSessions: true, user => user.Status = AccountStatus.Disabled, cancellationToken);

    public Task<Outcome> EnableAsync(Guid id, RequestOrigin origin, CancellationToken cancellationToken = default) =>
        ChangeAsync(id, SecurityEventTypes.AccountEnabled, origin, revokeSessions: false, user =>
        {
            // Note: only a disable is undone here; an operator lock ends with unlock.
            if (user.Status == AccountStatus.Disabled)
            {
                user.Status = AccountStatus.Active;
            }
        }, cancellationToken);

    /// <summary>
    /// Locks an account on an operator's word (threat model 1.3, e.g. a confirmed compromise): refused at every
    /// issuance and refresh, with its sessions, tokens and trusted devices revoked like a disable.
    /// </summary>
    public Task<Outcome> LockAsync(Guid id, RequestOrigin origin, CancellationToken cancellationToken = default) =>
        ChangeAsync(id, SecurityEventTypes.AccountLocked, origin, revokeSessions: true, user =>
        {
            // Note: a disabled account stays disabled: it is refused everywhere already, and enable must not
            // be the way out of a lock.
            if (user.Status == AccountStatus.Active)
            {
                user.Status = AccountStatus.Locked;
            }
        }, cancellationToken, new { cause = "operator" });

    /// <summary>Ends an operator lock and the automatic lockout of the account and of each of its devices.</summary>
    public Task<Outcome> UnlockAsync(Guid id, RequestOrigin origin, CancellationToken cancellationToken = default) =>
        ChangeAsync(id, SecurityEventTypes.AccountUnlocked, origin, revokeSessions: false, user =>
        {
            if (user.Status == AccountStatus.Locked)
            {
                user.Status = AccountStatus.Active;
            }

            user.LockedUntil = null;
            user.FailedLoginCount = 0;
            user.LockoutCount = 0;
        }, cancellationToken, clearDeviceLocks: true);

    public async Task<Outcome> SetPasswordAsync(Guid id, string password, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var user = await FindAsync(id, cancellationToken);
        if (user is null)
        {
            return UserNotFound;
        }

        if (PasswordPolicy.Check(password, user.Email) is { } policyProblem)
        {
            return policyProblem;
        }

        var hash = await hasher.HashAsync(password, cancellationToken);
        return await ChangeAsync(id, SecurityEventTypes.PasswordChanged, origin, revokeSessions: true, changed =>
        {
            changed.PasswordHash = hash;
            changed.FailedLoginCount = 0;
        }, cancellationToken);
    }

    /// <summary>Deletes a user, revoking their authorizations and tokens in the same transaction.</summary>
    public async Task<Outcome> DeleteAsync(Guid id, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var outcome = await db.InTransactionAsync(async () =>
        {
            var user = await FindAsync(id, cancellationToken);
            if (user is null)
            {
                return (Outcome)UserNotFound;
            }

            db.Users.Remove(user);
            events.Add(SecurityEventTypes.UserDeleted, origin, user.Id);
            await db.SaveChangesAsync(cancellationToken);
            // Note: a deleted user's refresh tokens must die with the account, even though the account gate would
            // refuse them anyway: a later user can never inherit them.
            var subject = user.Id.ToString();
            await authorizations.RevokeBySubjectAsync(subject, cancellationToken);
            await tokens.RevokeBySubjectAsync(subject, cancellationToken);
            return Outcome.Success;
        }, cancellationToken);
        if (outcome.Succeeded)
        {
            LogAudit(logger, SecurityEventTypes.UserDeleted, id, origin.Ip, origin.UserAgent);
        }

        return outcome;
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
    private async Task<Outcome> ChangeAsync(
        Guid id, string eventType, RequestOrigin origin, bool revokeSessions, Action<User> change, CancellationToken cancellationToken,
        object? eventData = null, bool clearDeviceLocks = false)
    {
        var outcome = await db.InTransactionAsync(async () =>
        {
            var user = await FindAsync(id, cancellationToken);
            if (user is null)
            {
                return (Outcome)UserNotFound;
            }

            change(user);
            user.UpdatedAt = clock.GetUtcNow().UtcDateTime;
            if (revokeSessions)
            {
                user.SecurityStamp = User.NewSecurityStamp();
            }

            events.Add(eventType, origin, user.Id, eventData);
            await db.SaveChangesAsync(cancellationToken);
            if (clearDeviceLocks)
            {
                await db.LoginDevices.Where(row => row.UserId == id).ExecuteUpdateAsync(set => set
                    .SetProperty(row => row.FailedLoginCount, 0)
                    .SetProperty(row => row.LockoutCount, 0)
                    .SetProperty(row => row.LockedUntil, (DateTime?)null), cancellationToken);
            }

            if (revokeSessions)
            {
                // Note: trust in the user's browsers goes with their sessions: a compromised browser must not keep
                // skipping the account's lockout.
                await db.LoginDevices.Where(row => row.UserId == id).ExecuteDeleteAsync(cancellationToken);
                // The stamp already refuses every cookie; ending the records keeps the account page's list true.
                var ended = user.UpdatedAt;
                await db.Set<SessionRecord>().Where(row => row.UserId == id && row.EndedAt == null)
                    .ExecuteUpdateAsync(set => set.SetProperty(row => row.EndedAt, ended), cancellationToken);
                var subject = user.Id.ToString();
                await authorizations.RevokeBySubjectAsync(subject, cancellationToken);
                await tokens.RevokeBySubjectAsync(subject, cancellationToken);
            }

            return Outcome.Success;
        }, cancellationToken);
        if (outcome.Succeeded)
        {
            LogAudit(logger, eventType, id, origin.Ip, origin.UserAgent);
        }

        return outcome;
    }

    private DateTime Now => clock.GetUtcNow().UtcDateTime;

    private static Problem DuplicateEmail { get; } = Problem.Conflict("email", "A user with this email already exists.", "duplicate_email");

    private static Problem UserNotFound { get; } = Problem.NotFound("No such user.");

    [LoggerMessage(Level = LogLevel.Warning, Message = "audit users.sign_out_all {Count} users from {Ip} ({UserAgent})")]
    private static partial void LogSignedOutEveryone(ILogger logger, int count, string? ip, string? userAgent);

    [LoggerMessage(Level = LogLevel.Information, Message = "audit {Action} user {UserId} from {Ip} ({UserAgent})")]
    private static partial void LogAudit(ILogger logger, string action, Guid userId, string? ip, string? userAgent);
}
