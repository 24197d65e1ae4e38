namespace OAuthServer.Events;

/// <summary>The event types of the architecture (section 6). Subjects are <c>oauth.security.&lt;type&gt;</c>.</summary>
internal static class SecurityEventTypes
{
    /// <summary>A sign-in became a session: after the password alone, or after the second factor that followed it.</summary>
    public const string LoginSucceeded = "login.succeeded";

    /// <summary>The password was right and the sign-in waits for the account's second factor: no session yet.</summary>
    public const string LoginSecondFactorRequired = "login.second_factor_required";
    public const string LoginFailed = "login.failed";
    public const string AccountLocked = "account.locked";
    public const string AccountUnlocked = "account.unlocked";
    public const string AccountDisabled = "account.disabled";
    public const string AccountEnabled = "account.enabled";
    public const string PasswordChanged = "password.changed";

    /// <summary>A reset link was asked for an existing account (mailed, or refused for a disabled or locked one).</summary>
    public const string PasswordResetRequested = "password.reset_requested";

    /// <summary>A reset link was redeemed and the password set (a <see cref="PasswordChanged"/> comes with it).</summary>
    public const string PasswordReset = "password.reset";
    public const string RefreshReplayed = "refresh.replayed";
    public const string CodeReplayed = "code.replayed";
    public const string ClientAssertionReplayed = "client_assertion.replayed";
    public const string UserCreated = "user.created";
    public const string UserDeleted = "user.deleted";
    public const string TokenRevoked = "token.revoked";
    public const string ClientCreated = "client.created";
    public const string ClientUpdated = "client.updated";
    public const string ClientDeleted = "client.deleted";
    public const string ClientSecretRotated = "client.secret_rotated";
    public const string KeyCreated = "key.created";
    public const string KeyRetired = "key.retired";
    public const string DeviceApproved = "device.approved";
    public const string DeviceDenied = "device.denied";

    /// <summary>RFC 8693: a client exchanged a user's token for one toward another audience.</summary>
    public const string TokenExchanged = "token.exchanged";

    /// <summary>A refresh token rotated moments ago came back inside its client's retry window and got the same successor.</summary>
    public const string RefreshRetried = "refresh.retried";
    public const string DpopProofReplayed = "dpop.proof_replayed";
    public const string DpopKeyMismatch = "dpop.key_mismatch";

    /// <summary>A person allowed a client at the consent page (its standing grant now covers these scopes).</summary>
    public const string ConsentGranted = "consent.granted";

    /// <summary>A person's grant to a client was revoked, with every authorization and token of it.</summary>
    public const string ConsentRevoked = "consent.revoked";

    /// <summary>An operator changed the words the consent page shows for an API scope.</summary>
    public const string ScopeUpdated = "scope.updated";

    /// <summary>A browser session ended: signed out, ended from the account page, or every one at once.</summary>
    public const string SessionEnded = "session.ended";

    /// <summary>A person added a second factor (a passkey or a TOTP app) or generated recovery codes.</summary>
    public const string FactorEnrolled = "factor.enrolled";

    /// <summary>A person removed a second factor, or an operator reset them all.</summary>
    public const string FactorRemoved = "factor.removed";

    /// <summary>A second factor was verified (TOTP, passkey as second factor, or a recovery code).</summary>
    public const string FactorVerified = "factor.verified";

    /// <summary>A wrong one-time code, a refused passkey assertion, or a wrong recovery code.</summary>
    public const string FactorFailed = "factor.failed";

    /// <summary>A recovery code was spent: the person lost their second factor, or someone has their codes.</summary>
    public const string RecoveryCodeUsed = "recovery_code.used";

    /// <summary>An operator made a person an administrator of this server (the admin API, after a second factor).</summary>
    public const string AdministratorGranted = "administrator.granted";

    /// <summary>An operator took a person's admin access away; their admin tokens are refused from the next request.</summary>
    public const string AdministratorRevoked = "administrator.revoked";

    /// <summary>A passkey's signature counter did not move forward: the key may have been cloned; the assertion was refused.</summary>
    public const string PasskeyCloneDetected = "passkey.clone_detected";
}
