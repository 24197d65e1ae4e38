using OAuthServer.Protocol;

namespace OAuthServer.Accounts;

/// <summary>The routes of the sign-in, sign-out and consent pages (each page has its own file).</summary>
internal static class AccountPages
{
    /// <summary>The sign-in failure message, in English (the page shows it in the person's language).</summary>
    public const string LoginFailedMessage = "Invalid email or password.";

    /// <summary>Set on the authorize URL by the consent page when the user said no.</summary>
    public const string ConsentDeniedParameter = "consent_denied";

    public static void Map(IEndpointRouteBuilder app)
    {
        LoginPage.Map(app);
        LogoutPage.Map(app);
        ConsentPage.Map(app);
        SecondFactorPage.Map(app);
        TotpSection.Map(app);
        RecoverySection.Map(app);
    }
}
