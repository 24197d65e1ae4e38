using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Accounts.Factors;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Protocol;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Accounts;

/// <summary>
/// The browser session: its cookie, what the cookie carries, its server-side record (<see cref="SessionRecord"/>),
/// and the one check that a session is still current.
/// </summary>
internal sealed class BrowserSession(AdmittedUser admitted, OAuthDbContext db, SecurityEvents events, TimeProvider clock)
{
    public const string CookieName = "oauthserver.session";

    /// <summary>The session cookie's copy of the user's security stamp; a mismatch ends the session.</summary>
    public const string SecurityStampClaim = "oauthserver_stamp";

    /// <summary>The id of the session's <see cref="SessionRecord"/>; a cookie without one (or naming an ended record) is over.</summary>
    public const string SessionIdClaim = "oauthserver_sid";

    /// <summary>How long a session cookie lives (not sliding): a record older than this belongs to no live cookie.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    /// <summary>How stale <see cref="SessionRecord.LastSeenAt"/> may get before a request moves it.</summary>
    public static readonly TimeSpan LastSeenResolution = TimeSpan.FromMinutes(1);

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
                options.ExpireTimeSpan = Lifetime;
                options.SlidingExpiration = false;
                // Note: every sign-out of the cookie (the logout page, RP-initiated logout, a stale session at the
                // authorization endpoint) ends the record too, so a copy of the cookie taken before dies with it.
                options.Events.OnSigningOut = async context =>
                {
                    var current = await context.HttpContext.AuthenticateAsync(CookieAuthenticationDefaults.AuthenticationScheme);
                    if (current.Succeeded)
                    {
                        await context.HttpContext.RequestServices.GetRequiredService<BrowserSession>()
                            .EndAsync(current.Principal, RequestOrigin.From(context.HttpContext));
                    }
                };
            });

    /// <summary>The session record id a cookie's principal carries, if any.</summary>
    public static Guid? SessionId(ClaimsPrincipal? session) =>
        Guid.TryParse(session?.FindFirstValue(SessionIdClaim), out var id) ? id : null;

    /// <summary>
    /// Starts a session for a user who has just proved who they are, with <paramref name="methods"/> (RFC 8176
    /// amr values, <see cref="AuthenticationMethods"/>): its record, then its cookie. <paramref name="secondFactorAt"/>
    /// is when a second factor was verified, if one was (now, for a sign-in that just verified one).
    /// </summary>
    public async Task StartAsync(HttpContext context, User user, IReadOnlyCollection<string> methods, DateTimeOffset? secondFactorAt = null)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var origin = RequestOrigin.From(context);
        var record = new SessionRecord
        {
            UserId = user.Id,
            CreatedAt = now,
            LastSeenAt = now,
            UserAgent = origin.UserAgent is { Length: > SessionRecord.UserAgentLength } agent ? agent[..SessionRecord.UserAgentLength] : origin.UserAgent,
            Ip = origin.Ip,
        };
        db.Set<SessionRecord>().Add(record);
        await db.SaveChangesAsync(CancellationToken.None);
        // Note: a browser that signs in again (another user, prompt=login, max_age) replaces its session: the old
        // record ends, so the list shows each browser once and the old cookie is dead.
        if (SessionId(context.User) is { } replaced)
        {
            await db.Set<SessionRecord>().Where(row => row.Id == replaced && row.EndedAt == null)
                .ExecuteUpdateAsync(set => set.SetProperty(row => row.EndedAt, now), CancellationToken.None);
        }

        await SignInCookieAsync(context, user, record.Id, methods, new DateTimeOffset(now), secondFactorAt);
    }

    /// <summary>
    /// Adds a second factor just verified to the current session (step-up: acr_values, a client or the policy asked
    /// for one): the same session record, a new cookie whose methods include <paramref name="secondFactor"/> and
    /// <c>mfa</c>, and whose sign-in time is now (OIDC Core §2: auth_time is the last active authentication).
    /// </summary>
    public async Task AddSecondFactorAsync(HttpContext context, ClaimsPrincipal session, User user, string secondFactor)
    {
        if (SessionId(session) is not { } sessionId)
        {
            throw new InvalidOperationException("A second factor can only be added to a current session.");
        }

        var now = clock.GetUtcNow();
        await SignInCookieAsync(context, user, sessionId, AuthenticationMethods.WithSecondFactor(AuthenticationMethods.Of(session), secondFactor), now, now);
    }

    private static async Task SignInCookieAsync(
        HttpContext context, User user, Guid sessionId, IReadOnlyCollection<string> methods, DateTimeOffset authenticatedAt, DateTimeOffset? secondFactorAt)
    {
        var identity = new ClaimsIdentity(CookieAuthenticationDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
        identity.AddClaim(new Claim(Claims.Subject, user.Id.ToString()));
        identity.AddClaim(new Claim(Claims.Name, user.Email));
        identity.AddClaim(new Claim(SecurityStampClaim, user.SecurityStamp));
        identity.AddClaim(new Claim(SessionIdClaim, sessionId.ToString("N")));
        // OIDC Core §2: the time the user authenticated, for max_age and the ID token's auth_time. A claim, not the
        // ticket's IssuedUtc, which sliding expiration moves on every renewal.
        identity.AddClaim(new Claim(Claims.AuthenticationTime, authenticatedAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64));
        foreach (var method in methods.Distinct(StringComparer.Ordinal))
        {
            identity.AddClaim(new Claim(AuthenticationMethods.Claim, method));
        }

        if (secondFactorAt is { } verifiedAt)
        {
            identity.AddClaim(new Claim(AuthenticationMethods.SecondFactorTimeClaim, verifiedAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64));
        }

        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
    }

    /// <summary>
    /// The user of a browser session while that session is still current: the account may sign in now (threat model
    /// 1.3), its security stamp is the one the cookie carries (a disable, an operator lock or a password change
    /// rotates it), and the session's record exists and is not ended (a sign-out, or an end from the account page).
    /// Null for no session, or one that is over. The one check of a session, wherever it is used; the account state
    /// is the account gate's (<see cref="AdmittedUser"/>), as for tokens.
    /// </summary>
    public async Task<User?> CurrentUserAsync(ClaimsPrincipal? session, CancellationToken cancellationToken = default)
    {
        if (session?.FindFirstValue(Claims.Subject) is not { Length: > 0 } subject || SessionId(session) is not { } sessionId)
        {
            return null;
        }

        var user = await admitted.AdmitAsync(subject, cancellationToken);
        if (user is null || session.FindFirstValue(SecurityStampClaim) != user.SecurityStamp)
        {
            return null;
        }

        // Note: one read by primary key. The user id is part of the match, so a record of another user never counts.
        var lastSeen = await db.Set<SessionRecord>().AsNoTracking()
            .Where(row => row.Id == sessionId && row.UserId == user.Id && row.EndedAt == null)
            .Select(row => (DateTime?)row.LastSeenAt)
            .FirstOrDefaultAsync(cancellationToken);
        if (lastSeen is not { } seen)
        {
            return null;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        if (now - seen >= LastSeenResolution)
        {
            var stale = now - LastSeenResolution;
            await db.Set<SessionRecord>()
                .Where(row => row.Id == sessionId && row.EndedAt == null && row.LastSeenAt <= stale)
                .ExecuteUpdateAsync(set => set.SetProperty(row => row.LastSeenAt, now), cancellationToken);
        }

        return user;
    }

    /// <summary>Ends the record of <paramref name="session"/> (a sign-out) and records it; nothing for a cookie without one.</summary>
    public async Task EndAsync(ClaimsPrincipal session, RequestOrigin origin)
    {
        if (SessionId(session) is not { } sessionId || !Guid.TryParse(session.FindFirstValue(Claims.Subject), out var userId))
        {
            return;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var ended = await db.Set<SessionRecord>()
            .Where(row => row.Id == sessionId && row.UserId == userId && row.EndedAt == null)
            .ExecuteUpdateAsync(set => set.SetProperty(row => row.EndedAt, now), CancellationToken.None);
        if (ended == 1)
        {
            events.Add(SecurityEventTypes.SessionEnded, origin, userId, new { cause = "signed_out" });
            await db.SaveChangesAsync(CancellationToken.None);
        }
    }
}
