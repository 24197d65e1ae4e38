namespace OAuthServer.Accounts;

internal enum GateVerdict
{
    Allowed,
    Disabled,
    Locked,
    Missing,
}

/// <summary>
/// The single decision of whether a user may sign in now. Login, the authorization endpoint and the token
/// endpoint's code and refresh grants all ask here, so a new path can't forget a state (threat model 1.3).
/// </summary>
internal sealed class AccountGate(TimeProvider clock)
{
    public GateVerdict Check(User? user)
    {
        if (user is null)
        {
            return GateVerdict.Missing;
        }

        if (user.Status != AccountStatus.Active)
        {
            return GateVerdict.Disabled;
        }

        return user.LockedUntil is { } until && until > clock.GetUtcNow().UtcDateTime
            ? GateVerdict.Locked
            : GateVerdict.Allowed;
    }
}
