using OAuthServer.Events;

namespace OAuthServer.Admin;

/// <summary>
/// The audit trail's actions. Where a change is also a security event it has the event's name, so the audit trail
/// and the event stream speak one vocabulary; only the two bulk changes, which no single event describes, have
/// names of their own.
/// </summary>
internal static class AuditActions
{
    public const string ClientCreated = SecurityEventTypes.ClientCreated;
    public const string ClientUpdated = SecurityEventTypes.ClientUpdated;
    public const string ClientDeleted = SecurityEventTypes.ClientDeleted;
    public const string ClientSecretRotated = SecurityEventTypes.ClientSecretRotated;
    public const string UserCreated = SecurityEventTypes.UserCreated;
    public const string UserDeleted = SecurityEventTypes.UserDeleted;
    public const string AccountDisabled = SecurityEventTypes.AccountDisabled;
    public const string AccountEnabled = SecurityEventTypes.AccountEnabled;
    public const string AccountLocked = SecurityEventTypes.AccountLocked;
    public const string AccountUnlocked = SecurityEventTypes.AccountUnlocked;
    public const string PasswordChanged = SecurityEventTypes.PasswordChanged;
    public const string KeyCreated = SecurityEventTypes.KeyCreated;
    public const string KeyRetired = SecurityEventTypes.KeyRetired;
    public const string ScopeUpdated = SecurityEventTypes.ScopeUpdated;
    public const string FactorsReset = SecurityEventTypes.FactorRemoved;
    public const string AdministratorGranted = SecurityEventTypes.AdministratorGranted;
    public const string AdministratorRevoked = SecurityEventTypes.AdministratorRevoked;
    public const string UsersSignedOutAll = "users.signed_out_all";
    public const string TokensRevokedAll = "tokens.revoked_all";
}
