using Microsoft.AspNetCore.Http.HttpResults;

namespace OAuthServer.Admin;

internal static partial class AdminApi
{
    private static async Task<Results<Created<ClientCreated>, ValidationProblem, ProblemHttpResult>> CreateClientAsync(
        ClientRequest request, HttpContext context, ClientRegistry registry)
    {
        var clientId = string.IsNullOrWhiteSpace(request.ClientId) ? ClientRegistry.NewClientId() : request.ClientId;
        var secret = request.Type == "confidential" ? ClientRegistry.NewSecret() : null;
        var (registration, problems) = request.ToRegistration(clientId, secret);
        if (registration is null)
        {
            return Invalid(problems);
        }

        BeginAudit(context, "client.create");
        var refused = await registry.RegisterAsync(registration, Origin(context), context.RequestAborted);
        if (refused.Any(problem => problem.IsConflict))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict", detail: refused.First(problem => problem.IsConflict).Message);
        }

        return refused.Count > 0
            ? Invalid(refused)
            : TypedResults.Created($"/admin/clients/{Uri.EscapeDataString(clientId)}", new ClientCreated(clientId, secret));
    }

    private static async Task<Ok<IReadOnlyList<ClientView>>> ListClientsAsync(ClientRegistry registry, HttpContext context, int? offset, int? limit) =>
        TypedResults.Ok(await registry.ListAsync(Math.Max(0, offset ?? 0), Math.Clamp(limit ?? 100, 1, MaxPageSize), context.RequestAborted));

    private static async Task<Results<Ok<ClientView>, NotFound>> GetClientAsync(string clientId, ClientRegistry registry, HttpContext context) =>
        await registry.GetAsync(clientId, context.RequestAborted) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound();

    private static async Task<Results<Ok<ClientView>, NotFound, ValidationProblem>> UpdateClientAsync(
        string clientId, ClientRequest request, HttpContext context, ClientRegistry registry)
    {
        if (request.ClientId is not null && request.ClientId != clientId)
        {
            return Invalid([new("client_id", "client_id can't change.")]);
        }

        var (registration, problems) = request.ToRegistration(clientId, secret: null);
        if (registration is null)
        {
            return Invalid(problems);
        }

        BeginAudit(context, "client.update");
        var refused = await registry.UpdateAsync(registration, Origin(context), context.RequestAborted);
        if (refused is null)
        {
            return TypedResults.NotFound();
        }

        return refused.Count > 0 ? Invalid(refused) : TypedResults.Ok((await registry.GetAsync(clientId, context.RequestAborted))!);
    }

    private static async Task<Results<NoContent, NotFound>> DeleteClientAsync(string clientId, HttpContext context, ClientRegistry registry)
    {
        BeginAudit(context, "client.delete");
        return await registry.DeleteAsync(clientId, Origin(context), context.RequestAborted) ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    private static async Task<Results<Ok<ClientCreated>, NotFound, ValidationProblem>> RotateSecretAsync(string clientId, HttpContext context, ClientRegistry registry)
    {
        BeginAudit(context, "client.rotate_secret");
        var (secret, problem) = await registry.RotateSecretAsync(clientId, Origin(context), context.RequestAborted);
        if (problem is not null)
        {
            return Invalid([problem]);
        }

        return secret is null ? TypedResults.NotFound() : TypedResults.Ok(new ClientCreated(clientId, secret));
    }

    public static ValidationProblem Invalid(IEnumerable<ClientProblem> problems) => TypedResults.ValidationProblem(
        problems.GroupBy(problem => problem.Field).ToDictionary(group => group.Key, group => group.Select(problem => problem.Message).ToArray()));
}
