using OAuthServer.Protocol;

namespace OAuthServer.Accounts;

/// <summary>Where a page may send the browser back to once the user is done.</summary>
internal static class ReturnUrls
{
    /// <summary>
    /// Only same-site paths may be returned to after a sign-in, so the login page can't be used as an open
    /// redirector (RFC 9700 §4.11). Anything else, or nothing (a person who opened the login page directly),
    /// goes to the person's account page.
    /// </summary>
    public static string Safe(string? returnUrl) =>
        !string.IsNullOrEmpty(returnUrl)
        && returnUrl[0] == '/'
        && (returnUrl.Length == 1 || (returnUrl[1] != '/' && returnUrl[1] != '\\'))
        && !returnUrl.Any(char.IsControl)
            ? returnUrl
            : ProtocolPaths.Account;
}
