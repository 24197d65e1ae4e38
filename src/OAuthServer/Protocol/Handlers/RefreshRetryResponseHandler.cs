using Microsoft.AspNetCore;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// Answers a retry that <see cref="RefreshRetryWindow"/> accepted: a fresh access token (and ID token), and the
/// same successor refresh token the rotation issued, never a new one, so there is only ever one live successor.
/// The retry is recorded as <c>refresh.retried</c> and counted (<c>oauth_refresh_retries_total</c>): inside the
/// window a thief's use of the rotated token looks the same, and the event lets it be seen.
/// </summary>
internal sealed partial class RefreshRetryResponseHandler(
    OAuthDbContext db, SecurityEvents events, OAuthMetrics metrics, ILogger<RefreshRetryResponseHandler> logger)
    : IOpenIddictServerHandler<ProcessSignInContext>
{
    // Note: after OpenIddict decided which tokens to generate, and before the refresh token would be.
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseScopedHandler<RefreshRetryResponseHandler>()
            .SetOrder(OpenIddictServerHandlers.EvaluateGeneratedTokens.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessSignInContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (RefreshRetryWindow.AcceptedIn(context.Transaction) is not { } retry)
        {
            return;
        }

        context.GenerateRefreshToken = false;
        context.IncludeRefreshToken = true;
        context.RefreshToken = retry.SuccessorValue;

        var http = context.Transaction.GetHttpRequest()?.HttpContext;
        var origin = http is null ? RequestOrigin.None : RequestOrigin.From(http, context.ClientId);
        Guid? userId = Guid.TryParse(context.Principal?.GetClaim(Claims.Subject), out var id) ? id : null;
        var authorizationId = context.Principal?.GetAuthorizationId();
        events.Add(SecurityEventTypes.RefreshRetried, origin, userId, new { authorization_id = authorizationId, token_id = retry.RotatedId, successor_id = retry.SuccessorId });
        await db.SaveChangesAsync(CancellationToken.None);
        metrics.RefreshRetries.Add(1);
        LogRetry(logger, SecurityEventTypes.RefreshRetried, userId, context.ClientId, authorizationId, origin.Ip);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "audit {EventType} user {UserId} client {ClientId} authorization {AuthorizationId}: same successor; from {Ip}")]
    private static partial void LogRetry(ILogger logger, string eventType, Guid? userId, string? clientId, string? authorizationId, string? ip);

    /// <summary>
    /// Lets OpenIddict's token-entry check (which refuses a redeemed refresh token) skip the one token this request
    /// was accepted as a retry of; every other token, and every other request, is checked as before.
    /// </summary>
    internal sealed class RequireNoAcceptedRetry : IOpenIddictServerHandlerFilter<ValidateTokenContext>
    {
        public ValueTask<bool> IsActiveAsync(ValidateTokenContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return new(!string.Equals(RefreshRetryWindow.AcceptedIn(context.Transaction)?.RotatedId, context.TokenId, StringComparison.Ordinal)
                || string.IsNullOrEmpty(context.TokenId));
        }

        public static void FilterBuiltInCheck(List<OpenIddictServerHandlerDescriptor> handlers)
        {
            ArgumentNullException.ThrowIfNull(handlers);
            var builtIn = OpenIddictServerHandlers.Protection.ValidateTokenEntry.Descriptor;
            var index = handlers.IndexOf(builtIn);
            if (index < 0)
            {
                throw new InvalidOperationException("OpenIddict's ValidateTokenEntry is not registered; the refresh retry window can't be applied.");
            }

            handlers[index] = OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenContext>()
                .Import(builtIn).AddFilter<RequireNoAcceptedRetry>().Build();
        }
    }
}
