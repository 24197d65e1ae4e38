using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using OAuthServer.Protocol;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Accounts;

/// <summary>
/// The browser session: its cookie, what the cookie carries, and the one check that a session is still current.
/// </summary>
internal sealed class BrowserSession(AdmittedUser admitted, TimeProvider clock)
{
    public const string CookieName = "oauthserver.session";

    /// <summary>The session cookie's copy of the user's security stamp; a mismatch ends the session.</summary>
    public const string SecurityStampClaim = "oauthserver_stamp";

    public static void AddCookieScheme(IServiceCollection services, CookieSecurePolicy securePolicy) =>
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(options =>
            {
                options.LoginPath = ProtocolPaths.Login;
                options.LogoutPath = ProtocolPaths.Logout;
                options.AccessDeniedPath = ProtocolPaths.Login;
                options.Cookie.Name = CookieName;
                options.Cookie.HttpOnly = true;
                // Note: Lax, not Strict: the authorize request arrives as a top-level navigation from the
                // client's site, and the session cookie must come with it. POSTs from other sites get no cookie.
                options.Cookie.SameSite = SameSiteMode.Lax;
                options.Cookie.SecurePolicy = securePolicy;
                options.ExpireTimeSpan = TimeSpan.FromHours(8);
                options.SlidingExpiration = false;
            });

    /// <summary>Starts a session for a user who has just proved who they are.</summary>
    public Task StartAsync(HttpContext context, User user)
    {
        var identity = new ClaimsIdentity(CookieAuthenticationDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
        identity.AddClaim(new Claim(Claims.Subject, user.Id.ToString()));
        identity.AddClaim(new Claim(Claims.Name, user.Email));
        identity.AddClaim(new Claim(SecurityStampClaim, user.SecurityStamp));
        // OIDC Core §2: the time the user authenticated, for max_age and the ID token's auth_time. A claim, not the
        // ticket's IssuedUtc, which sliding expiration moves on every renewal.
        identity.AddClaim(new Claim(Claims.AuthenticationTime, clock.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64));
        return context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
    }

    /// <summary>
    /// The user of a browser session while that session is still current: the account may sign in now (threat model
    /// 1.3) and its security stamp is the one the cookie carries (a disable, an operator lock or a password change
    /// rotates it). Null for no session, or one that is over. The one check of a session, wherever it is used; the
    /// account state is the account gate's (<see cref="AdmittedUser"/>), as for tokens.
    /// </summary>
    public async Task<User?> CurrentUserAsync(ClaimsPrincipal? session, CancellationToken cancellationToken = default)
    {
        if (session?.FindFirstValue(Claims.Subject) is not { Length: > 0 } subject)
        {
            return null;
        }

        var user = await admitted.AdmitAsync(subject, cancellationToken);
        return user is not null && session.FindFirstValue(SecurityStampClaim) == user.SecurityStamp ? user : null;
    }
}
