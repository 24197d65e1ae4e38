using System.Linq.Expressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query;

namespace OAuthServer.Data;

/// <summary>The one delete-in-batches loop of the pruning tasks.</summary>
internal static class BatchedDelete
{
    /// <summary>
    /// Deletes the rows of <paramref name="rows"/> that are <paramref name="due"/>, at most
    /// <paramref name="batchSize"/> per statement in <paramref name="order"/>, until a statement deletes fewer, and
    /// returns how many went.
    /// </summary>
    /// <remarks>
    /// Note: one statement per batch, each its own short transaction, so a large backlog never holds long locks
    /// or one huge transaction; rows that become due meanwhile are picked up by a later batch or the next run.
    /// </remarks>
    public static async Task<long> DeleteInBatchesAsync<TEntity, TOrder, TKey>(
        this IQueryable<TEntity> rows,
        Expression<Func<TEntity, bool>> due,
        Expression<Func<TEntity, TOrder>> order,
        Expression<Func<TEntity, TKey>> key,
        int batchSize,
        CancellationToken cancellationToken)
        where TEntity : class
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var batch = rows.Where(due).OrderBy(order).Select(key).Take(batchSize);
        // row => batch.Contains(key(row)): translated as "DELETE ... WHERE key IN (SELECT key ... LIMIT batchSize)".
        // The row gets a parameter of its own: the key's is already bound inside the subquery's Select.
        var row = Expression.Parameter(typeof(TEntity), "row");
        var inBatch = Expression.Lambda<Func<TEntity, bool>>(
            Expression.Call(typeof(Queryable), nameof(Queryable.Contains), [typeof(TKey)], batch.Expression,
                ReplacingExpressionVisitor.Replace(key.Parameters[0], row, key.Body)),
            row);
        long removed = 0;
        while (true)
        {
            var deleted = await rows.Where(inBatch).ExecuteDeleteAsync(cancellationToken);
            removed += deleted;
            if (deleted < batchSize)
            {
                return removed;
            }
        }
    }
}
