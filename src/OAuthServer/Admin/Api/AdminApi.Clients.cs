using Microsoft.AspNetCore.Http.HttpResults;
using OAuthServer.Protocol;

namespace OAuthServer.Admin;

internal static partial class AdminApi
{
    private static async Task<Results<Created<ClientCreated>, ProblemHttpResult>> CreateClientAsync(
        ClientRequest request, HttpContext context, ClientRegistry registry)
    {
        var clientId = string.IsNullOrWhiteSpace(request.ClientId) ? ClientRegistry.NewClientId() : request.ClientId;
        var secret = request.Type == "confidential" && !request.UsesKeys ? ClientRegistry.NewSecret() : null;
        var registration = request.ToRegistration(clientId, secret);
        if (!registration.Succeeded)
        {
            return registration.ToProblem();
        }

        var outcome = await registry.RegisterAsync(registration.Value, Origin(context), cancellationToken: context.RequestAborted);
        return outcome.Succeeded
            ? TypedResults.Created($"{ProtocolPaths.Admin}/clients/{Uri.EscapeDataString(clientId)}", new ClientCreated(clientId, secret))
            : outcome.ToProblem();
    }

    private static async Task<Ok<IReadOnlyList<ClientView>>> ListClientsAsync(ClientRegistry registry, HttpContext context, int? offset, int? limit) =>
        TypedResults.Ok(await registry.ListAsync(Math.Max(0, offset ?? 0), Math.Clamp(limit ?? 100, 1, MaxPageSize), context.RequestAborted));

    private static async Task<Results<Ok<ClientView>, NotFound>> GetClientAsync(string clientId, ClientRegistry registry, HttpContext context) =>
        await registry.GetAsync(clientId, context.RequestAborted) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound();

    private static async Task<Results<Ok<ClientView>, ProblemHttpResult>> UpdateClientAsync(
        string clientId, ClientRequest request, HttpContext context, ClientRegistry registry)
    {
        if (request.ClientId is not null && request.ClientId != clientId)
        {
            return ((Outcome)Problem.Invalid("client_id", "client_id can't change.")).ToProblem();
        }

        var registration = request.ToRegistration(clientId, secret: null);
        if (!registration.Succeeded)
        {
            return registration.ToProblem();
        }

        var outcome = await registry.UpdateAsync(registration.Value, Origin(context), context.RequestAborted);
        return outcome.Succeeded ? TypedResults.Ok((await registry.GetAsync(clientId, context.RequestAborted))!) : outcome.ToProblem();
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteClientAsync(string clientId, HttpContext context, ClientRegistry registry)
    {
        var outcome = await registry.DeleteAsync(clientId, Origin(context), context.RequestAborted);
        return outcome.Succeeded ? TypedResults.NoContent() : outcome.ToProblem();
    }

    private static async Task<Results<Ok<ClientCreated>, ProblemHttpResult>> RotateSecretAsync(string clientId, HttpContext context, ClientRegistry registry)
    {
        var outcome = await registry.RotateSecretAsync(clientId, Origin(context), context.RequestAborted);
        return outcome.Succeeded ? TypedResults.Ok(new ClientCreated(clientId, outcome.Value)) : outcome.ToProblem();
    }
}
