using OAuthServer.Observability;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Exchange;

/// <summary>
/// RFC 8693 §2.2.2: a subject or actor token that is invalid, or unacceptable by policy, is <c>invalid_request</c>.
/// OpenIddict answers a bad token at the token endpoint with <c>invalid_grant</c> (RFC 6749's error for a bad code or
/// refresh token); for token exchange this handler gives the RFC's error instead, and counts every refused exchange
/// (<c>oauth_token_exchanges_total{result="refused"}</c>).
/// </summary>
internal sealed class TokenExchangeErrorHandler(OAuthMetrics metrics) : IOpenIddictServerHandler<ApplyTokenResponseContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyTokenResponseContext>()
            .UseSingletonHandler<TokenExchangeErrorHandler>()
            .SetOrder(OpenIddictServerHandlers.Exchange.NormalizeErrorResponse.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ApplyTokenResponseContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Request is not { } request || !request.IsTokenExchangeGrantType() || string.IsNullOrEmpty(context.Response.Error))
        {
            return ValueTask.CompletedTask;
        }

        if (context.Response.Error is Errors.InvalidGrant or Errors.InvalidToken)
        {
            context.Response.Error = Errors.InvalidRequest;
        }

        metrics.TokenExchanges.Add(1, new KeyValuePair<string, object?>("result", "refused"));
        return ValueTask.CompletedTask;
    }
}
