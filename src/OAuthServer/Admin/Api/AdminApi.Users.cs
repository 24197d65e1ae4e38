using Microsoft.AspNetCore.Http.HttpResults;
using OAuthServer.Accounts;
using OAuthServer.Events;
using OAuthServer.Protocol;

namespace OAuthServer.Admin;

internal static partial class AdminApi
{
    private static async Task<Results<Created<UserView>, ProblemHttpResult>> CreateUserAsync(
        UserRequest request, HttpContext context, UserAccounts accounts)
    {
        if (string.IsNullOrEmpty(request.Email) || string.IsNullOrEmpty(request.Password))
        {
            return Outcome.Failed([.. Required(("email", request.Email), ("password", request.Password))]).ToProblem();
        }

        var outcome = await accounts.CreateAsync(request.Email, request.Password, Origin(context), context.RequestAborted);
        return outcome.Succeeded
            ? TypedResults.Created($"{ProtocolPaths.Admin}/users/{outcome.Value.Id}", UserView.From(outcome.Value))
            : outcome.ToProblem();
    }

    private static async Task<Results<Ok<UserView[]>, ValidationProblem>> FindUsersAsync(string? email, UserAccounts accounts, HttpContext context)
    {
        if (string.IsNullOrWhiteSpace(email))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["email"] = ["Give ?email= to find a user."] });
        }

        return TypedResults.Ok(await accounts.FindByEmailAsync(email, context.RequestAborted) is { } user ? new[] { UserView.From(user) } : []);
    }

    private static async Task<Results<Ok<UserView>, NotFound>> GetUserAsync(Guid id, UserAccounts accounts, HttpContext context) =>
        await accounts.FindAsync(id, context.RequestAborted) is { } user ? TypedResults.Ok(UserView.From(user)) : TypedResults.NotFound();

    private static async Task<Results<NoContent, ProblemHttpResult>> SetPasswordAsync(
        Guid id, PasswordRequest request, HttpContext context, UserAccounts accounts)
    {
        if (string.IsNullOrEmpty(request.Password))
        {
            return Outcome.Failed([.. Required(("password", request.Password))]).ToProblem();
        }

        return Answer(await accounts.SetPasswordAsync(id, request.Password, Origin(context), context.RequestAborted));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> ChangeUserAsync(
        HttpContext context, Func<Guid, RequestOrigin, CancellationToken, Task<Outcome>> change, Guid id) =>
        Answer(await change(id, Origin(context), context.RequestAborted));

    private static Results<NoContent, ProblemHttpResult> Answer(Outcome outcome) =>
        outcome.Succeeded ? TypedResults.NoContent() : outcome.ToProblem();

    // A request without a field the operation needs is refused like any other rule, under the field's name.
    private static IEnumerable<Problem> Required(params (string Field, string? Value)[] fields) =>
        fields.Where(field => string.IsNullOrEmpty(field.Value))
            .Select(field => Problem.Invalid(field.Field, $"{field.Field} is required.", "required"));
}
