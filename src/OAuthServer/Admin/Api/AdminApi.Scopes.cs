using Microsoft.AspNetCore.Http.HttpResults;

namespace OAuthServer.Admin;

internal static partial class AdminApi
{
    private static async Task<Ok<IReadOnlyList<ScopeView>>> ListScopesAsync(ScopeRegistry registry, HttpContext context) =>
        TypedResults.Ok(await registry.ListAsync(context.RequestAborted));

    private static async Task<Results<Ok<ScopeView>, NotFound>> GetScopeAsync(string name, ScopeRegistry registry, HttpContext context) =>
        await registry.GetAsync(name, context.RequestAborted) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound();

    private static async Task<Results<Ok<ScopeView>, ProblemHttpResult>> SetScopeWordingAsync(
        string name, ScopeRequest request, HttpContext context, ScopeRegistry registry)
    {
        var outcome = await registry.SetWordingAsync(request.ToChange(name), Origin(context), context.RequestAborted);
        return outcome.Succeeded ? TypedResults.Ok(outcome.Value) : outcome.ToProblem();
    }
}
