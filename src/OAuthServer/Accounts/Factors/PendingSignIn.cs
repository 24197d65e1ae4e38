using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using OAuthServer.Protocol;

namespace OAuthServer.Accounts.Factors;

/// <summary>
/// A sign-in between its password and its second factor: who, with which security stamp, the methods so far, when,
/// and the device cookie to give the browser once it is done. No session exists yet.
/// </summary>
internal sealed record PendingSignInState(Guid UserId, string SecurityStamp, IReadOnlyList<string> Methods, DateTimeOffset IssuedAt, Guid Device, Guid? TrustedDevice);

/// <summary>
/// The pending sign-in's cookie: sealed by Data Protection (nobody can mint or alter one), HttpOnly, SameSite=Lax,
/// scoped to the sign-in pages, and alive for <see cref="Lifetime"/>. It proves a password only; the second-factor
/// page turns it into a session. A change of the security stamp (password change, disable, operator lock) kills it.
/// </summary>
internal sealed class PendingSignIn(IDataProtectionProvider protection, TimeProvider clock, AdmittedUser admitted)
{
    public const string CookieName = "oauthserver.pending";

    /// <summary>Long enough to open an app and type a code, short enough that a stolen cookie soon is worth nothing.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    private readonly ITimeLimitedDataProtector _protector =
        protection.CreateProtector("OAuthServer.Accounts.PendingSignIn.v1").ToTimeLimitedDataProtector();

    public void Write(HttpContext context, User user, IReadOnlyList<string> methods, Guid device, Guid? trustedDevice)
    {
        var now = clock.GetUtcNow();
        var state = new PendingSignInState(user.Id, user.SecurityStamp, methods, now, device, trustedDevice);
        context.Response.Cookies.Append(CookieName, _protector.Protect(JsonSerializer.Serialize(state), now + Lifetime), Options(context, now + Lifetime));
    }

    /// <summary>
    /// The pending sign-in of the request with its user, while it is current: unexpired (by our clock), for an
    /// account the gate still admits, with the stamp it was issued under. Null otherwise.
    /// </summary>
    public async Task<(PendingSignInState State, User User)?> ReadAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (!context.Request.Cookies.TryGetValue(CookieName, out var value) || string.IsNullOrEmpty(value) || value.Length > 4096)
        {
            return null;
        }

        PendingSignInState? state;
        try
        {
            state = JsonSerializer.Deserialize<PendingSignInState>(_protector.Unprotect(value, out _));
        }
        catch (Exception exception) when (exception is CryptographicException or JsonException)
        {
            return null;
        }

        var now = clock.GetUtcNow();
        if (state is null || state.IssuedAt > now || now - state.IssuedAt >= Lifetime || state.Methods is null)
        {
            return null;
        }

        var user = await admitted.AdmitAsync(state.UserId.ToString(), cancellationToken);
        return user is not null && string.Equals(user.SecurityStamp, state.SecurityStamp, StringComparison.Ordinal) ? (state, user) : null;
    }

    public static void Clear(HttpContext context) =>
        context.Response.Cookies.Delete(CookieName, Options(context, expires: null));

    private static CookieOptions Options(HttpContext context, DateTimeOffset? expires) => new()
    {
        HttpOnly = true,
        Secure = context.Request.IsHttps,
        // Note: Lax like the session cookie: the second-factor page is reached by redirects from the sign-in form.
        SameSite = SameSiteMode.Lax,
        Path = ProtocolPaths.Login,
        Expires = expires,
        IsEssential = true,
    };
}
