using Microsoft.EntityFrameworkCore;
using OAuthServer.Data;

namespace OAuthServer.Accounts;

/// <summary>Why creating or changing an account was refused, in words a person can act on.</summary>
internal sealed record AccountError(string Code, string Message);

/// <summary>The outcome of a sign-in attempt. A failure never says why, to the caller or to the page.</summary>
internal sealed record SignInOutcome(User? User)
{
    public bool Succeeded => User is not null;
}

/// <summary>Creates users and checks their credentials.</summary>
internal sealed class UserAccounts(
    OAuthDbContext db,
    IPasswordHasher hasher,
    AccountGate gate,
    TimeProvider clock)
{
    public const int MinimumPasswordLength = 12;
    public const int MaximumPasswordLength = 128;

    public async Task<(User? User, AccountError? Error)> CreateAsync(string email, string password, CancellationToken cancellationToken = default)
    {
        if (!EmailAddress.IsValid(email))
        {
            return (null, new("invalid_email", "The email address is not valid."));
        }

        if (CheckPassword(password) is { } passwordError)
        {
            return (null, passwordError);
        }

        var normalized = EmailAddress.Normalize(email);
        if (await db.Users.AnyAsync(user => user.NormalizedEmail == normalized, cancellationToken))
        {
            return (null, new("duplicate_email", "A user with this email already exists."));
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var created = new User
        {
            Email = email.Trim(),
            NormalizedEmail = normalized,
            PasswordHash = hasher.Hash(password),
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Users.Add(created);
        await db.SaveChangesAsync(cancellationToken);
        return (created, null);
    }

    public Task<User?> FindAsync(Guid id, CancellationToken cancellationToken = default) =>
        db.Users.SingleOrDefaultAsync(user => user.Id == id, cancellationToken);

    public Task<User?> FindByEmailAsync(string email, CancellationToken cancellationToken = default)
    {
        var normalized = EmailAddress.Normalize(email);
        return db.Users.SingleOrDefaultAsync(user => user.NormalizedEmail == normalized, cancellationToken);
    }

    /// <summary>
    /// Checks an email and password. An unknown email costs the same Argon2 work as a known one, and every
    /// failure looks the same, so neither the answer nor its timing reveals which accounts exist.
    /// </summary>
    public async Task<SignInOutcome> SignInAsync(string email, string password, CancellationToken cancellationToken = default)
    {
        var user = EmailAddress.IsValid(email) ? await FindByEmailAsync(email, cancellationToken) : null;
        if (user is null || password.Length > MaximumPasswordLength)
        {
            hasher.VerifyDummy(password.Length > MaximumPasswordLength ? string.Empty : password);
            return new(null);
        }

        var check = hasher.Verify(user.PasswordHash, password);
        if (check == PasswordCheck.Failed || gate.Check(user) != GateVerdict.Allowed)
        {
            return new(null);
        }

        if (check == PasswordCheck.SucceededRehashNeeded)
        {
            user.PasswordHash = hasher.Hash(password);
            user.UpdatedAt = clock.GetUtcNow().UtcDateTime;
            await db.SaveChangesAsync(cancellationToken);
        }

        return new(user);
    }

    private static AccountError? CheckPassword(string password)
    {
        var length = password.EnumerateRunes().Count();
        return length switch
        {
            < MinimumPasswordLength => new("password_too_short", $"The password must be at least {MinimumPasswordLength} characters long."),
            > MaximumPasswordLength => new("password_too_long", $"The password must be at most {MaximumPasswordLength} characters long."),
            _ => null,
        };
    }
}
