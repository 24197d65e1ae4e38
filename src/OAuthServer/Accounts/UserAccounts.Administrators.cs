using OAuthServer.Accounts.Factors;
using OAuthServer.Data;
using OAuthServer.Events;

namespace OAuthServer.Accounts;

/// <summary>What only an operator does to an account's second factors and admin access.</summary>
internal sealed partial class UserAccounts
{
    /// <summary>
    /// Makes a person an administrator of this server, or no longer one (<see cref="User.IsAdministrator"/>). A
    /// revoke needs nothing else to take effect: the admin API and every refresh read the row again.
    /// </summary>
    public Task<Outcome> SetAdministratorAsync(Guid id, bool administrator, RequestOrigin origin, CancellationToken cancellationToken = default) =>
        ChangeAsync(id, administrator ? SecurityEventTypes.AdministratorGranted : SecurityEventTypes.AdministratorRevoked, origin, revokeSessions: false,
            user => user.IsAdministrator = administrator, cancellationToken);

    /// <summary>
    /// An operator's reset of every second factor and recovery code of a person (a lost phone, or a suspected
    /// compromise): the factors go, and so do the sessions, tokens and trusted devices, as after a password change,
    /// so nothing that proved a second factor before the reset outlives it. The person signs in with the password
    /// alone afterwards and may enrol again.
    /// </summary>
    public async Task<Outcome> ResetSecondFactorsAsync(Guid id, SecondFactors factors, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factors);
        return await db.InTransactionAsync(async () =>
        {
            if (await FindAsync(id, cancellationToken) is null)
            {
                return (Outcome)UserNotFound;
            }

            await factors.RemoveAllAsync(id, cancellationToken);
            return await ChangeAsync(id, SecurityEventTypes.FactorRemoved, origin, revokeSessions: true, _ => { }, cancellationToken,
                new { method = "all", by = "operator" });
        }, cancellationToken);
    }
}
