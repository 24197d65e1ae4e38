using Microsoft.AspNetCore;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>Counts successful token responses by grant type (<c>oauth_tokens_issued_total{grant_type}</c>).</summary>
internal sealed class TokensIssuedHandler(OAuthMetrics metrics) : IOpenIddictServerHandler<ApplyTokenResponseContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyTokenResponseContext>()
            .UseSingletonHandler<TokensIssuedHandler>()
            .SetOrder(int.MinValue + 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ApplyTokenResponseContext context)
    {
        if (string.IsNullOrEmpty(context.Response.Error) && !string.IsNullOrEmpty(context.Response.AccessToken))
        {
            metrics.TokensIssued.Add(1, new KeyValuePair<string, object?>("grant_type", context.Request?.GrantType ?? "unknown"));
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Records a <c>token.revoked</c> event when RFC 7009 revocation really revoked a token. It runs after
/// OpenIddict's own RevokeToken handler, which rejects unknown or invalid tokens (the client still gets 200, as
/// the RFC wants), so a stream of bogus revocations writes no events.
/// </summary>
internal sealed class TokenRevokedHandler(SecurityEvents events, OAuthDbContext db) : IOpenIddictServerHandler<HandleRevocationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleRevocationRequestContext>()
            .UseScopedHandler<TokenRevokedHandler>()
            .SetOrder(OpenIddictServerHandlers.Revocation.RevokeToken.Descriptor.Order + 1_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(HandleRevocationRequestContext context)
    {
        if (context.IsRejected)
        {
            return;
        }

        var http = context.Transaction.GetHttpRequest()?.HttpContext;
        var origin = http is null ? RequestOrigin.None : RequestOrigin.From(http, context.Request?.ClientId);
        events.Add(SecurityEventTypes.TokenRevoked, origin, data: new { token_type_hint = context.Request?.TokenTypeHint });
        await db.SaveChangesAsync(context.CancellationToken);
    }
}
