using Microsoft.AspNetCore;
using OAuthServer.Data;
using OAuthServer.Events;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// RFC 7009 revocation that records its <c>token.revoked</c> event in the same transaction as the revocation, so
/// the event exists if and only if the token was really revoked. It replaces OpenIddict's own <c>RevokeToken</c>
/// handler (which commits the revocation by itself, leaving nowhere to add the outbox row) and keeps its
/// behaviour: a token without an id or that can't be revoked is <c>unsupported_token_type</c>, an unknown one
/// <c>invalid_token</c> (answered 200, as the RFC wants), so a stream of bogus revocations writes no events.
/// </summary>
internal sealed class TokenRevocationHandler(IOpenIddictTokenManager tokens, SecurityEvents events, OAuthDbContext db)
    : IOpenIddictServerHandler<HandleRevocationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleRevocationRequestContext>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireDegradedModeDisabled>()
            .UseScopedHandler<TokenRevocationHandler>()
            .SetOrder(OpenIddictServerHandlers.Revocation.RevokeToken.Descriptor.Order)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    private enum Outcome
    {
        Revoked,
        Unknown,
        NotRevocable,
    }

    public async ValueTask HandleAsync(HandleRevocationRequestContext context)
    {
        var identifier = context.GenericTokenPrincipal?.GetTokenId();
        if (string.IsNullOrEmpty(identifier))
        {
            context.Reject(Errors.UnsupportedTokenType, "The specified token cannot be revoked.");
            return;
        }

        var http = context.Transaction.GetHttpRequest()?.HttpContext;
        var origin = http is null ? RequestOrigin.None : RequestOrigin.From(http, context.Request?.ClientId);
        // Note: CancellationToken.None: a client that hangs up must not stop a revocation between the token's
        // update and its event.
        var outcome = await db.InTransactionAsync(async () =>
        {
            var token = await tokens.FindByIdAsync(identifier, CancellationToken.None);
            if (token is null)
            {
                return Outcome.Unknown;
            }

            // Note: OpenIddict's store saves the new status through SaveChanges, inside our transaction; a
            // concurrent change of the row makes it return false, and nothing is written.
            if (!await tokens.TryRevokeAsync(token, CancellationToken.None))
            {
                return Outcome.NotRevocable;
            }

            events.Add(SecurityEventTypes.TokenRevoked, origin, data: new { token_type_hint = context.Request?.TokenTypeHint });
            await db.SaveChangesAsync(CancellationToken.None);
            return Outcome.Revoked;
        }, CancellationToken.None);

        switch (outcome)
        {
            case Outcome.Unknown:
                context.Reject(Errors.InvalidToken, "The specified token is invalid.");
                break;
            case Outcome.NotRevocable:
                context.Reject(Errors.UnsupportedTokenType, "The specified token cannot be revoked.");
                break;
        }
    }
}
