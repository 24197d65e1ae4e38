using Microsoft.EntityFrameworkCore;

namespace OAuthServer.Data;

internal static class DatabaseTransactions
{
    /// <summary>
    /// Runs <paramref name="work"/> in one database transaction, so every write it makes (bulk
    /// <c>ExecuteUpdate</c>s, OpenIddict store updates and <c>SaveChanges</c> alike) commits or rolls back as one.
    /// A transaction the caller already opened is joined instead. The provider's execution strategy wraps it, as EF
    /// Core requires of a user transaction once a retrying strategy is configured (SQLite and Npgsql alike).
    /// </summary>
    /// <remarks>
    /// Note: the commit takes <see cref="CancellationToken.None"/>: once the work is done, a client hanging up
    /// must not leave it to chance whether the change and its security event were committed.
    /// </remarks>
    public static async Task<T> InTransactionAsync<T>(this OAuthDbContext db, Func<Task<T>> work, CancellationToken cancellationToken = default)
    {
        if (db.Database.CurrentTransaction is not null)
        {
            return await work();
        }

        var strategy = db.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(async () =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            var result = await work();
            await transaction.CommitAsync(CancellationToken.None);
            return result;
        });
    }

    /// <inheritdoc cref="InTransactionAsync{T}(OAuthDbContext, Func{Task{T}}, CancellationToken)"/>
    public static Task InTransactionAsync(this OAuthDbContext db, Func<Task> work, CancellationToken cancellationToken = default) =>
        db.InTransactionAsync(async () =>
        {
            await work();
            return true;
        }, cancellationToken);
}
