using Microsoft.AspNetCore.Http.HttpResults;
using OAuthServer.Accounts;
using OAuthServer.Events;

namespace OAuthServer.Admin;

internal static partial class AdminApi
{
    private static async Task<Results<Created<UserView>, ValidationProblem, ProblemHttpResult>> CreateUserAsync(
        UserRequest request, HttpContext context, UserAccounts accounts)
    {
        if (string.IsNullOrEmpty(request.Email) || string.IsNullOrEmpty(request.Password))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]>
            {
                ["email"] = string.IsNullOrEmpty(request.Email) ? ["email is required."] : [],
                ["password"] = string.IsNullOrEmpty(request.Password) ? ["password is required."] : [],
            }.Where(pair => pair.Value.Length > 0).ToDictionary());
        }

        BeginAudit(context, "user.create");
        var (user, error) = await accounts.CreateAsync(request.Email, request.Password, Origin(context), context.RequestAborted);
        return error switch
        {
            null => TypedResults.Created($"/admin/users/{user!.Id}", UserView.From(user)),
            { Code: "duplicate_email" } => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict", detail: error.Message),
            { Code: "invalid_email" } => FieldProblem("email", error),
            _ => FieldProblem("password", error),
        };
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

    private static async Task<Results<NoContent, NotFound, ValidationProblem>> SetPasswordAsync(
        Guid id, PasswordRequest request, HttpContext context, UserAccounts accounts)
    {
        if (string.IsNullOrEmpty(request.Password))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["password"] = ["password is required."] });
        }

        BeginAudit(context, "user.set_password");
        return await accounts.SetPasswordAsync(id, request.Password, Origin(context), context.RequestAborted) switch
        {
            null => TypedResults.NoContent(),
            { Code: "not_found" } => TypedResults.NotFound(),
            var error => FieldProblem("password", error),
        };
    }

    private static async Task<Results<NoContent, NotFound>> ChangeUserAsync(
        HttpContext context, string action, Func<Guid, RequestOrigin, CancellationToken, Task<AccountError?>> change, Guid id)
    {
        BeginAudit(context, action);
        return await change(id, Origin(context), context.RequestAborted) is null ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    private static ValidationProblem FieldProblem(string field, AccountError error) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [error.Message] }, title: error.Code);
}
