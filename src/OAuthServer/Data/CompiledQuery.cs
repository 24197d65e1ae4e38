using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace OAuthServer.Data;

/// <summary>
/// A query of the token path compiled once per model (<see cref="EF.CompileAsyncQuery{TContext, TParam1, TResult}(Expression{Func{TContext, TParam1, CancellationToken, TResult}})"/>),
/// so each run skips EF's per-query work: the expression's cache key, the parameter extraction and the cache lookup.
/// </summary>
/// <remarks>
/// Note: a compiled query refuses a context of another model, and one process can hold several (PostgreSQL and
/// SQLite, each test server's own), so each model gets its own compilation.
/// </remarks>
internal sealed class CompiledQuery<TContext, TParam, TResult>(Expression<Func<TContext, TParam, CancellationToken, TResult>> query)
    where TContext : DbContext
{
    private readonly ConditionalWeakTable<IModel, Func<TContext, TParam, CancellationToken, Task<TResult>>> _byModel = [];

    public Task<TResult> RunAsync(TContext db, TParam parameter, CancellationToken cancellationToken)
    {
        var model = db.Model;
        if (!_byModel.TryGetValue(model, out var compiled))
        {
            compiled = _byModel.GetValue(model, _ => EF.CompileAsyncQuery(query));
        }

        return compiled(db, parameter, cancellationToken);
    }
}
