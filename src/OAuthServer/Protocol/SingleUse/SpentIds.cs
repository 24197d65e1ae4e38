using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using OAuthServer.Data;

namespace OAuthServer.Protocol.SingleUse;

/// <summary>What a spent id was spent as; part of its key, so one purpose can't spend another's ids.</summary>
internal static class SpentIdPurposes
{
    /// <summary>The <c>jti</c> of a client assertion (RFC 7523 §3 item 7), owned by the client that signed it.</summary>
    public const string ClientAssertion = "client_assertion";

    /// <summary>The <c>jti</c> of a DPoP proof (RFC 9449 §11.1), owned by the thumbprint of the proof's key.</summary>
    public const string DpopProof = "dpop_proof";
}

/// <summary>One id that has been used once and must not be accepted again before <see cref="ExpiresAt"/>.</summary>
internal sealed class SpentId
{
    /// <summary>A <see cref="SpentIdPurposes"/> value.</summary>
    public required string Purpose { get; set; }

    /// <summary>
    /// SHA-256 of the purpose, the owner and the id (base64url), the key: the table never holds an id a sender chose
    /// verbatim, and one purpose's ids can't collide with another's.
    /// </summary>
    public required string Hash { get; set; }

    /// <summary>
    /// When the id stops needing to be remembered: the end of the validity of the thing that carried it. After it,
    /// the carrier is refused for its age, so the row can go.
    /// </summary>
    public DateTime ExpiresAt { get; set; }
}

internal sealed class SpentIdConfiguration : IEntityTypeConfiguration<SpentId>
{
    public void Configure(EntityTypeBuilder<SpentId> builder)
    {
        builder.ToTable("spent_ids");
        builder.HasKey(spent => spent.Hash);
        builder.Property(spent => spent.Purpose).HasMaxLength(32);
        builder.Property(spent => spent.Hash).HasMaxLength(43);
        builder.HasIndex(spent => spent.ExpiresAt);
    }
}

/// <summary>
/// The ledger of single-use ids (client-assertion and DPoP-proof <c>jti</c>s), shared by every node through the
/// database. Spending is one conditional INSERT that the primary key arbitrates, so two requests carrying the same
/// id, at one node or at two, can't both succeed.
/// </summary>
internal sealed class SpentIds(OAuthDbContext db)
{
    /// <summary>The longest id accepted; longer ones are refused before they reach the database.</summary>
    public const int MaxIdLength = 256;

    /// <summary>
    /// Spends <paramref name="id"/> of <paramref name="owner"/> for <paramref name="purpose"/> until
    /// <paramref name="expiresAt"/>. True the first time; false when it was already spent (a replay).
    /// </summary>
    /// <remarks>
    /// Note: it ignores the request's cancellation: an id checked and then not recorded because the caller went away
    /// would be spendable again.
    /// </remarks>
    public async Task<bool> TrySpendAsync(string purpose, string owner, string id, DateTimeOffset expiresAt)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        ArgumentException.ThrowIfNullOrEmpty(id);
        if (id.Length > MaxIdLength)
        {
            return false;
        }

        var hash = Hash(purpose, owner, id);
        var until = expiresAt.UtcDateTime;
        // Note: ON CONFLICT DO NOTHING is the same in PostgreSQL and SQLite: the insert either adds the row or
        // reports zero rows, without an exception that would abort the surrounding transaction.
        var inserted = await db.Database.ExecuteSqlInterpolatedAsync(
            $"INSERT INTO spent_ids (\"Purpose\", \"Hash\", \"ExpiresAt\") VALUES ({purpose}, {hash}, {until}) ON CONFLICT DO NOTHING",
            CancellationToken.None);
        return inserted == 1;
    }

    // Note: the owner is length-prefixed so ("ab", "c") and ("a", "bc") can't collide; purposes have no ':'.
    internal static string Hash(string purpose, string owner, string id) =>
        Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes($"{purpose}:{owner.Length}:{owner}:{id}")));
}

/// <summary>Removes spent ids whose carriers have expired.</summary>
internal sealed class SpentIdPruningTask(OAuthDbContext db) : IPruningTask
{
    public string Name => "spent ids";

    public Task<long> PruneAsync(DateTimeOffset now, PruningOptions options, CancellationToken cancellationToken)
    {
        var cutoff = now.UtcDateTime;
        return db.SpentIds.DeleteInBatchesAsync(spent => spent.ExpiresAt < cutoff, order: spent => spent.ExpiresAt, key: spent => spent.Hash, options.BatchSize, cancellationToken);
    }
}
