namespace OAuthServer.Accounts;

internal enum GateVerdict
{
    Allowed,
    Disabled,
    Locked,
    Missing,
}

/// <summary>
/// The single decision of whether a user's account state allows anything to be issued to them now, so a new path
/// can't forget a state (threat model 1.3). Login asks here directly; the authorization endpoint, the consent page,
/// the token endpoint's code and refresh grants and userinfo ask through <see cref="AdmittedUser"/>, which loads the
/// user once per request.
/// </summary>
/// <remarks>
/// Note: only the state an operator sets counts here (<see cref="AccountStatus"/>). The automatic lockout after
/// failed passwords (threat model 1.2) can be triggered by anyone, so it throttles new password sign-ins only
/// (<see cref="UserAccounts.SignInAsync"/>) and never refuses the owner's existing sessions and tokens.
/// </remarks>
internal sealed class AccountGate
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "A service every path is given, so none can bypass it.")]
    public GateVerdict Check(User? user) => user?.Status switch
    {
        null => GateVerdict.Missing,
        AccountStatus.Active => GateVerdict.Allowed,
        AccountStatus.Locked => GateVerdict.Locked,
        _ => GateVerdict.Disabled,
    };
}
