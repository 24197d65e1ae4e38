using System.Security.Claims;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>The audit action an admin endpoint's changes are recorded under.</summary>
internal sealed record AuditedAction(string Action);

/// <summary>
/// Audit as endpoint metadata (threat model 3.3): an endpoint declares its action with <see cref="Audited{T}"/>, and
/// one filter on the whole admin group opens the audit scope before the handler runs. An endpoint that changes
/// something but declares no action is refused before it runs, so a new endpoint can't make unaudited changes.
/// </summary>
internal static class AuditedEndpoints
{
    public static TBuilder Audited<TBuilder>(this TBuilder builder, string action)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new AuditedAction(action));

    /// <summary>
    /// Who is calling: the id of the client whose validated token came with the request; for an administrator's own
    /// token, the person too (<c>user:{id} via {client_id}</c>), so the trail names who acted, not only the console.
    /// </summary>
    public static string Actor(ClaimsPrincipal principal)
    {
        var client = Client(principal);
        return principal.GetClaim(Claims.Subject) is { } subject && !string.Equals(subject, client, StringComparison.Ordinal)
            ? $"user:{subject} via {client}"
            : client;
    }

    /// <summary>The id of the client whose validated token came with the request.</summary>
    public static string Client(ClaimsPrincipal principal) => principal.GetClaim(Claims.ClientId) ?? "unknown";

    public static TBuilder RequireAuditedChanges<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var action = http.GetEndpoint()?.Metadata.GetMetadata<AuditedAction>();
            if (action is null)
            {
                if (!IsReadOnly(http.Request.Method))
                {
                    // Note: deny by default: a change nobody declared an audit action for is a programming error,
                    // and it must not reach the database.
                    throw new InvalidOperationException($"The admin endpoint {http.GetEndpoint()?.DisplayName} changes state but declares no audit action.");
                }

                return await next(context);
            }

            http.RequestServices.GetRequiredService<AuditScope>().Begin(Actor(http.User), action.Action, http.Connection.RemoteIpAddress?.ToString());
            return await next(context);
        });

    public static bool IsReadOnly(string method) => HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method);
}
