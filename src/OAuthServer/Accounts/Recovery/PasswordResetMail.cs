namespace OAuthServer.Accounts.Recovery;

/// <summary>The strings of the reset mail, resolved from <c>PasswordResetMail.resx</c> in the requester's language.</summary>
internal sealed class PasswordResetMail;
