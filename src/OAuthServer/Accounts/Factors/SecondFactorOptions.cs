namespace OAuthServer.Accounts.Factors;

/// <summary>Who must use a second factor at every sign-in.</summary>
internal enum SecondFactorRequirement
{
    /// <summary>Only people who enrolled one, and clients or requests that ask for one (acr_values).</summary>
    None = 0,

    /// <summary>Administrators (<see cref="User.IsAdministrator"/>) always; everyone else as for <see cref="None"/>.</summary>
    Administrators = 1,

    /// <summary>Everyone.</summary>
    Everyone = 2,
}

/// <summary>Settings of the <c>SecondFactors</c> section.</summary>
internal sealed class SecondFactorOptions
{
    public const string Section = "SecondFactors";

    /// <summary>Who must use a second factor; people who must but have none are led to enrol one after their password.</summary>
    public SecondFactorRequirement Require { get; set; } = SecondFactorRequirement.None;
}
