using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OAuthServer.Data;

namespace OAuthServer.Accounts.Factors;

/// <summary>What second factors a person has, and whether they must use one.</summary>
internal sealed record EnrolledFactors(int Passkeys, bool Totp, int RecoveryCodesLeft)
{
    /// <summary>True when the person can prove a second factor (a recovery code alone is a way back, not a factor).</summary>
    public bool Any => Passkeys > 0 || Totp;
}

/// <summary>The one reader of a person's second factors, for the sign-in, the account page, the authorization endpoint and operators.</summary>
internal sealed class SecondFactors(OAuthDbContext db, IOptions<SecondFactorOptions> options)
{
    // Note: one statement (three subqueries on the user's row) instead of three round trips: every password
    // sign-in asks this before it completes. The factors of a user who doesn't exist are none.
    public async Task<EnrolledFactors> EnrolledAsync(Guid userId, CancellationToken cancellationToken) =>
        await db.Users.AsNoTracking().Where(user => user.Id == userId)
            .Select(user => new EnrolledFactors(
                db.Set<Passkey>().Count(row => row.UserId == userId),
                db.Set<TotpAuthenticator>().Any(row => row.UserId == userId && row.ConfirmedAt != null),
                db.Set<RecoveryCode>().Count(row => row.UserId == userId && row.UsedAt == null)))
            .FirstOrDefaultAsync(cancellationToken)
        ?? new EnrolledFactors(0, false, 0);

    /// <summary>True when the policy (<see cref="SecondFactorOptions.Require"/>) makes <paramref name="user"/> use a second factor at every sign-in.</summary>
    public bool RequiredFor(User user) => options.Value.Require switch
    {
        SecondFactorRequirement.Everyone => true,
        SecondFactorRequirement.Administrators => user.IsAdministrator,
        _ => false,
    };

    /// <summary>Removes every second factor and recovery code of a user (an operator's reset); returns how many rows went.</summary>
    public async Task<int> RemoveAllAsync(Guid userId, CancellationToken cancellationToken) =>
        await db.Set<Passkey>().Where(row => row.UserId == userId).ExecuteDeleteAsync(cancellationToken)
        + await db.Set<TotpAuthenticator>().Where(row => row.UserId == userId).ExecuteDeleteAsync(cancellationToken)
        + await db.Set<RecoveryCode>().Where(row => row.UserId == userId).ExecuteDeleteAsync(cancellationToken);
}
