using System.Globalization;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Data;
using OtpNet;

namespace OAuthServer.Accounts.Factors;

/// <summary>An enrolment in progress: the secret to show once (as a QR code and an otpauth URI).</summary>
internal sealed record TotpEnrolment(byte[] Secret, string Uri)
{
    /// <summary>The secret in base32 (RFC 4648 §6), for typing it into an app by hand.</summary>
    public string Base32 => Base32Encoding.ToString(Secret).TrimEnd('=');
}

/// <summary>
/// A person's TOTP app (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, a 160-bit secret (RFC 4226 §4 R6
/// recommends 160 bits). Codes are accepted one step either side of now (RFC 6238 §5.2, clock drift) and each
/// step at most once.
/// </summary>
internal sealed class TotpAuthenticators(OAuthDbContext db, FactorSecrets secrets, TimeProvider clock)
{
    public const int SecretBytes = 20;
    public const int Digits = 6;
    public static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    // RFC 6238 §5.2: "at most one time step is allowed as the network delay" either way.
    private static readonly VerificationWindow Window = new(previous: 1, future: 1);

    public bool Available => secrets.Available;

    /// <summary>The confirmed app of a user, if any (when it was confirmed).</summary>
    public Task<DateTime?> ConfirmedAtAsync(Guid userId, CancellationToken cancellationToken) =>
        db.Set<TotpAuthenticator>().AsNoTracking().Where(row => row.UserId == userId && row.ConfirmedAt != null)
            .Select(row => row.ConfirmedAt).FirstOrDefaultAsync(cancellationToken);

    /// <summary>
    /// Starts an enrolment: a new secret, sealed into an unconfirmed row (replacing an earlier unconfirmed one).
    /// Null when the user already has a confirmed app: it must be removed first.
    /// </summary>
    public async Task<TotpEnrolment?> BeginAsync(User user, string issuer, CancellationToken cancellationToken)
    {
        var secret = RandomNumberGenerator.GetBytes(SecretBytes);
        var now = clock.GetUtcNow().UtcDateTime;
        var sealedSecret = secrets.Seal(user.Id, secret);
        var keyId = secrets.CurrentKeyId!;
        var replaced = await db.Set<TotpAuthenticator>().Where(row => row.UserId == user.Id && row.ConfirmedAt == null)
            .ExecuteUpdateAsync(set => set
                .SetProperty(row => row.EncryptedSecret, sealedSecret)
                .SetProperty(row => row.KeyId, keyId)
                .SetProperty(row => row.LastUsedStep, 0)
                .SetProperty(row => row.CreatedAt, now), cancellationToken);
        if (replaced == 0)
        {
            if (await db.Set<TotpAuthenticator>().AnyAsync(row => row.UserId == user.Id, cancellationToken))
            {
                return null;
            }

            db.Set<TotpAuthenticator>().Add(new TotpAuthenticator { UserId = user.Id, EncryptedSecret = sealedSecret, KeyId = keyId, CreatedAt = now });
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException)
            {
                // Note: another tab's enrolment inserted the row first; that one is the enrolment now.
                return null;
            }
        }

        return new(secret, UriFor(secret, issuer, user.Email));
    }

    /// <summary>The enrolment in progress (to show again after a wrong first code), or null.</summary>
    public async Task<TotpEnrolment?> PendingAsync(User user, string issuer, CancellationToken cancellationToken)
    {
        var row = await db.Set<TotpAuthenticator>().AsNoTracking()
            .SingleOrDefaultAsync(item => item.UserId == user.Id && item.ConfirmedAt == null, cancellationToken);
        return row is not null && secrets.Open(user.Id, row.KeyId, row.EncryptedSecret) is { } secret ? new(secret, UriFor(secret, issuer, user.Email)) : null;
    }

    /// <summary>Confirms an enrolment with its first code; that code's step is spent like any other.</summary>
    public async Task<bool> ConfirmAsync(Guid userId, string code, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        return await VerifyAsync(userId, code, confirmed: false, cancellationToken) is { } step
            && await db.Set<TotpAuthenticator>()
                .Where(row => row.UserId == userId && row.ConfirmedAt == null && row.LastUsedStep < step)
                .ExecuteUpdateAsync(set => set.SetProperty(row => row.ConfirmedAt, now).SetProperty(row => row.LastUsedStep, step), cancellationToken) == 1;
    }

    /// <summary>
    /// Checks a code of the user's confirmed app and spends its time step: one guarded update (only a step later
    /// than the last one used), so of any number of requests with one code, on any number of nodes, one wins.
    /// </summary>
    public async Task<bool> UseAsync(Guid userId, string code, CancellationToken cancellationToken) =>
        await VerifyAsync(userId, code, confirmed: true, cancellationToken) is { } step
        && await db.Set<TotpAuthenticator>()
            .Where(row => row.UserId == userId && row.ConfirmedAt != null && row.LastUsedStep < step)
            .ExecuteUpdateAsync(set => set.SetProperty(row => row.LastUsedStep, step), cancellationToken) == 1;

    /// <summary>Removes the user's app (confirmed or not); true when there was one.</summary>
    public async Task<bool> RemoveAsync(Guid userId, CancellationToken cancellationToken) =>
        await db.Set<TotpAuthenticator>().Where(row => row.UserId == userId).ExecuteDeleteAsync(cancellationToken) > 0;

    /// <summary>Digits only, spaces and dashes dropped (apps show "123 456"); null for anything else.</summary>
    public static string? Normalize(string? code)
    {
        var digits = code?.Replace(" ", string.Empty, StringComparison.Ordinal).Replace("-", string.Empty, StringComparison.Ordinal);
        return digits is { Length: Digits } && digits.All(char.IsAsciiDigit) ? digits : null;
    }

    private async Task<long?> VerifyAsync(Guid userId, string code, bool confirmed, CancellationToken cancellationToken)
    {
        if (Normalize(code) is not { } digits)
        {
            return null;
        }

        var row = await db.Set<TotpAuthenticator>().AsNoTracking()
            .SingleOrDefaultAsync(item => item.UserId == userId && (item.ConfirmedAt != null) == confirmed, cancellationToken);
        if (row is null || secrets.Open(userId, row.KeyId, row.EncryptedSecret) is not { } secret)
        {
            return null;
        }

        var totp = new Totp(secret, (int)Step.TotalSeconds, OtpHashMode.Sha1, Digits);
        return totp.VerifyTotp(clock.GetUtcNow().UtcDateTime, digits, out var step, Window) && step > row.LastUsedStep ? step : null;
    }

    // Key URI format (the de-facto standard of Google Authenticator): otpauth://totp/Issuer:account?secret=…&issuer=….
    private static string UriFor(byte[] secret, string issuer, string account)
    {
        var label = Uri.EscapeDataString(issuer) + ":" + Uri.EscapeDataString(account);
        return string.Create(CultureInfo.InvariantCulture,
            $"otpauth://totp/{label}?secret={Base32Encoding.ToString(secret).TrimEnd('=')}&issuer={Uri.EscapeDataString(issuer)}&algorithm=SHA1&digits={Digits}&period={(int)Step.TotalSeconds}");
    }
}
