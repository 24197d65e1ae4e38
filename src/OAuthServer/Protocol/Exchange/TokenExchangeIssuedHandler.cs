using Microsoft.AspNetCore;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Exchange;

/// <summary>
/// Records every token exchange, once the exchanged token exists and before it leaves the server: the
/// <c>token.exchanged</c> security event (who acted for whom, toward which audiences, with which scopes), the
/// <c>oauth_token_exchanges_total{result="issued"}</c> count and an audit log line. No token is delivered whose
/// exchange was not recorded: if the event can't be written, the request fails.
/// </summary>
internal sealed partial class TokenExchangeIssuedHandler(
    TokenExchangeDecision decision, OAuthDbContext db, SecurityEvents events, OAuthMetrics metrics, ILogger<TokenExchangeIssuedHandler> logger)
    : IOpenIddictServerHandler<ProcessSignInContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseScopedHandler<TokenExchangeIssuedHandler>()
            .SetOrder(OpenIddictServerHandlers.GenerateIssuedToken.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessSignInContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.Request.IsTokenExchangeGrantType() || !decision.Made || string.IsNullOrEmpty(context.IssuedToken))
        {
            return;
        }

        var http = context.Transaction.GetHttpRequest()?.HttpContext;
        var origin = http is null ? RequestOrigin.None : RequestOrigin.From(http, context.ClientId);
        Guid? userId = Guid.TryParse(decision.Subject, out var id) ? id : null;
        var actors = TokenExchangeDecision.Chain(decision.Actor(context.ClientId!));
        events.Add(SecurityEventTypes.TokenExchanged, origin, userId, new
        {
            audiences = decision.Audiences,
            scopes = decision.Scopes,
            actors,
            subject_client_id = decision.SubjectClientId,
            authorization_id = decision.AuthorizationId,
            token_id = context.IssuedTokenPrincipal?.GetTokenId(),
        });
        await db.SaveChangesAsync(CancellationToken.None);
        metrics.TokenExchanges.Add(1, new KeyValuePair<string, object?>("result", "issued"));
        var audiences = string.Join(' ', decision.Audiences);
        var chain = string.Join('>', actors);
        LogExchange(logger, SecurityEventTypes.TokenExchanged, userId, context.ClientId, audiences, chain, origin.Ip);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "audit {EventType} user {UserId} client {ClientId} audiences {Audiences} actors {Actors}; from {Ip}")]
    private static partial void LogExchange(ILogger logger, string eventType, Guid? userId, string? clientId, string audiences, string actors, string? ip);
}
