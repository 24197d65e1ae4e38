using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Data;

namespace OAuthServer.Accounts.Factors;

/// <summary>
/// A person's ten single-use recovery codes: 12 characters of Crockford's base32 each (60 bits, shown as three
/// groups of four), stored only as an HMAC-SHA-256 keyed from <see cref="FactorSecrets"/>, so a copy of the
/// database can't be searched for codes without the key, which is not in it.
/// </summary>
internal sealed class RecoveryCodes(OAuthDbContext db, FactorSecrets secrets, TimeProvider clock)
{
    public const int Count = 10;
    public const int Characters = 12;

    // Crockford's base32: no I, L, O or U, so a code read aloud or typed from paper has fewer lookalikes.
    private const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";

    /// <summary>Replaces all of the user's codes with ten new ones; returns them, to be shown once.</summary>
    public async Task<IReadOnlyList<string>> ReplaceAsync(Guid userId, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var codes = Enumerable.Range(0, Count).Select(_ => NewCode()).ToList();
        await db.InTransactionAsync(async () =>
        {
            await db.Set<RecoveryCode>().Where(row => row.UserId == userId).ExecuteDeleteAsync(CancellationToken.None);
            foreach (var code in codes)
            {
                db.Set<RecoveryCode>().Add(new RecoveryCode { UserId = userId, CodeHash = secrets.HashRecoveryCode(userId, Normalize(code)!), CreatedAt = now });
            }

            await db.SaveChangesAsync(CancellationToken.None);
            return true;
        }, cancellationToken);
        return [.. codes.Select(Display)];
    }

    /// <summary>
    /// Spends one code: one guarded update (<c>UsedAt IS NULL</c> in its where), so of any number of requests with
    /// one code exactly one succeeds. Returns the codes left after it, or null when the code is not an unused one.
    /// </summary>
    public async Task<int?> SpendAsync(Guid userId, string? code, CancellationToken cancellationToken)
    {
        if (Normalize(code) is not { } normalized)
        {
            return null;
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var candidates = secrets.RecoveryCodeCandidates(userId, normalized);
        var spent = await db.Set<RecoveryCode>()
            .Where(row => row.UserId == userId && row.UsedAt == null && candidates.Contains(row.CodeHash))
            .ExecuteUpdateAsync(set => set.SetProperty(row => row.UsedAt, now), cancellationToken);
        return spent == 1 ? await LeftAsync(userId, cancellationToken) : null;
    }

    public Task<int> LeftAsync(Guid userId, CancellationToken cancellationToken) =>
        db.Set<RecoveryCode>().CountAsync(row => row.UserId == userId && row.UsedAt == null, cancellationToken);

    public Task<int> RemoveAllAsync(Guid userId, CancellationToken cancellationToken) =>
        db.Set<RecoveryCode>().Where(row => row.UserId == userId).ExecuteDeleteAsync(cancellationToken);

    /// <summary>Lower case, separators dropped, Crockford's lookalikes mapped (i, l → 1; o → 0); null when not a code.</summary>
    public static string? Normalize(string? code)
    {
        if (code is null || code.Length > 64)
        {
            return null;
        }

        var characters = code.Where(character => character is not ' ' and not '-')
            .Select(character => char.ToLowerInvariant(character) switch { 'i' or 'l' => '1', 'o' => '0', var other => other })
            .ToArray();
        return characters.Length == Characters && characters.All(character => Alphabet.Contains(character, StringComparison.Ordinal))
            ? new string(characters)
            : null;
    }

    private static string NewCode() => new([.. Enumerable.Range(0, Characters).Select(_ => Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)])]);

    private static string Display(string code) => $"{code[..4]}-{code[4..8]}-{code[8..]}";
}
