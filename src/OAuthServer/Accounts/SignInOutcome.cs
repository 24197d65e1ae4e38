namespace OAuthServer.Accounts;

/// <summary>
/// The outcome of a sign-in attempt. A failure never says why, to the caller or to the page. A success names the
/// device the browser's device cookie is to carry, and whether a second factor must follow before it is a sign-in.
/// </summary>
internal sealed record SignInOutcome(User? User, Guid? Device = null, bool SecondFactorFollows = false)
{
    public bool Succeeded => User is not null;
}
