namespace OAuthServer.Accounts;

/// <summary>Why creating or changing an account was refused, in words a person can act on.</summary>
internal sealed record AccountError(string Code, string Message)
{
    public static AccountError NotFound { get; } = new("not_found", "No such user.");
}

/// <summary>
/// The outcome of a sign-in attempt. A failure never says why, to the caller or to the page. A success names the
/// device the browser's device cookie is to carry.
/// </summary>
internal sealed record SignInOutcome(User? User, Guid? Device = null)
{
    public bool Succeeded => User is not null;
}
