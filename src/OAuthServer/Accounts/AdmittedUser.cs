namespace OAuthServer.Accounts;

/// <summary>
/// The account gate of one request: loads the user a token or a browser session names, once per request, and
/// lets them through only if <see cref="AccountGate"/> allows them now (threat model 1.3). Every path that issues
/// something to a user asks here: <c>Protocol.AccountGateHandler</c> inside OpenIddict's pipeline for the code and
/// refresh-token grants and for userinfo, and <see cref="BrowserSession.CurrentUserAsync"/> for the authorization
/// endpoint and the consent page. The passthrough endpoints then take the user the gate admitted
/// (<see cref="AdmittedFor"/>) rather than loading it a second time, so the user they issue to is the one that
/// was checked.
/// </summary>
internal sealed class AdmittedUser(UserAccounts accounts, AccountGate gate)
{
    private string? _subject;
    private User? _user;
    private bool _loaded;

    /// <summary>
    /// The user <paramref name="subject"/> names if they may be issued anything now; null for a missing user, a
    /// foreign subject, or an account an operator disabled or locked.
    /// </summary>
    public async Task<User?> AdmitAsync(string? subject, CancellationToken cancellationToken = default)
    {
        if (!_loaded || !string.Equals(_subject, subject, StringComparison.Ordinal))
        {
            _user = await accounts.FindBySubjectAsync(subject, cancellationToken);
            _subject = subject;
            _loaded = true;
        }

        return gate.Check(_user) == GateVerdict.Allowed ? _user : null;
    }

    /// <summary>The user the gate admitted earlier in this request for <paramref name="subject"/>.</summary>
    /// <exception cref="InvalidOperationException">The gate did not run for this subject, or refused it.</exception>
    public User AdmittedFor(string? subject) =>
        _loaded && string.Equals(_subject, subject, StringComparison.Ordinal) && gate.Check(_user) == GateVerdict.Allowed
            ? _user!
            : throw new InvalidOperationException("The account gate has not admitted this request's user.");
}
