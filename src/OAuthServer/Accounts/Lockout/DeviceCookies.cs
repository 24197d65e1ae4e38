using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using OAuthServer.Protocol;

namespace OAuthServer.Accounts;

/// <summary>
/// The device cookie of OWASP's "Slow Down Online Guessing Attacks with Device Cookies": a random device id,
/// sealed by Data Protection (so nobody can mint or alter one) and time-limited, given to a browser after a
/// successful sign-in. Which users trust that device is kept in the database (<see cref="LoginDevice"/>), so one
/// browser serves several users and an operator can withdraw the trust.
/// </summary>
internal sealed class DeviceCookies(IDataProtectionProvider protection, TimeProvider clock, IOptions<LockoutOptions> options)
{
    public const string CookieName = "oauthserver.device";

    private readonly ITimeLimitedDataProtector _protector =
        protection.CreateProtector("OAuthServer.Accounts.DeviceCookie.v1").ToTimeLimitedDataProtector();

    /// <summary>
    /// The key of the sign-in's per-account rate limit (<c>LoginPerAccount</c>), for the password, a code and a
    /// password confirmation alike: a browser the account trusts spends a budget of its own, any other the
    /// account's, so a stranger spending the account's can't lock the owner out (threat model 1.2).
    /// </summary>
    public static string LoginBudgetKey(Guid? trustedDevice, string email) =>
        trustedDevice is { } device ? "device:" + device.ToString("N") : EmailAddress.Normalize(email);

    /// <summary>The device id the request's cookie names, or null for none, an expired one or a forgery.</summary>
    public Guid? Read(HttpContext context)
    {
        if (!context.Request.Cookies.TryGetValue(CookieName, out var value) || string.IsNullOrEmpty(value) || value.Length > 1024)
        {
            return null;
        }

        try
        {
            var payload = _protector.Unprotect(value, out var expiration);
            return expiration > clock.GetUtcNow() && Guid.TryParseExact(payload, "N", out var device) ? device : null;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    public void Write(HttpContext context, Guid device)
    {
        var lifetime = options.Value.DeviceCookieLifetime;
        var expires = clock.GetUtcNow() + lifetime;
        context.Response.Cookies.Append(CookieName, _protector.Protect(device.ToString("N"), expires), new CookieOptions
        {
            HttpOnly = true,
            Secure = context.Request.IsHttps,
            // Note: only this site's account pages need it: the sign-in forms, and the password checks of a signed-in
            // person (the passkey confirmation, a factor's removal), which spend the same budget as a sign-in.
            SameSite = SameSiteMode.Strict,
            Path = ProtocolPaths.Account,
            Expires = expires,
            IsEssential = true,
        });
    }
}
