using System.Text.Json.Nodes;

namespace OAuthServer.Protocol.Exchange;

/// <summary>
/// What <see cref="TokenExchangeRequestHandler"/> allowed for this request's exchange (RFC 8693), for the token
/// endpoint to issue and <see cref="TokenExchangeIssuedHandler"/> to record. Scoped: one per request.
/// </summary>
internal sealed class TokenExchangeDecision
{
    public bool Made { get; private set; }

    /// <summary>The user the subject token names, admitted by the account gate.</summary>
    public string Subject { get; private set; } = string.Empty;

    public IReadOnlyList<string> Scopes { get; private set; } = [];

    /// <summary>The new token's <c>aud</c>: the requested targets, or the granted scopes' resources the client may reach.</summary>
    public IReadOnlyList<string> Audiences { get; private set; } = [];

    /// <summary>The subject token's sign-in, so revoking that family revokes the exchanged token too.</summary>
    public string? AuthorizationId { get; private set; }

    /// <summary>The subject token's own <c>act</c> (a chained exchange), nested under the new actor.</summary>
    public JsonObject? PriorActor { get; private set; }

    /// <summary>The client the subject token was issued to.</summary>
    public string? SubjectClientId { get; private set; }

    public void Allow(string subject, IReadOnlyList<string> scopes, IReadOnlyList<string> audiences, string? authorizationId, JsonObject? priorActor, string? subjectClientId)
    {
        Made = true;
        Subject = subject;
        Scopes = scopes;
        Audiences = audiences;
        AuthorizationId = authorizationId;
        PriorActor = priorActor;
        SubjectClientId = subjectClientId;
    }

    /// <summary>
    /// RFC 8693 §4.1: the new <c>act</c> names the client that asked (the current actor); the subject token's own
    /// <c>act</c>, if any, goes inside it, so a chain of services reads from the latest actor back to the first.
    /// </summary>
    public JsonObject Actor(string clientId)
    {
        var actor = new JsonObject { ["sub"] = clientId };
        if (PriorActor is not null)
        {
            actor["act"] = PriorActor.DeepClone();
        }

        return actor;
    }

    /// <summary>The actors of <paramref name="actor"/>, latest first.</summary>
    public static IReadOnlyList<string> Chain(JsonObject? actor)
    {
        var chain = new List<string>();
        for (var current = actor; current is not null; current = current["act"] as JsonObject)
        {
            chain.Add(current["sub"]?.ToString() ?? string.Empty);
        }

        return chain;
    }
}
