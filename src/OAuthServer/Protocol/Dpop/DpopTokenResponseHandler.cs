using Microsoft.AspNetCore;
using Microsoft.Extensions.Options;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// The token response of a DPoP request: <c>token_type: DPoP</c> when the access token is bound (RFC 9449 §5),
/// and, when nonces are required for the client, a fresh <c>DPoP-Nonce</c> on every answer, success or error
/// (§8.1, §8.2), so the client always holds a current one.
/// </summary>
internal sealed class DpopTokenResponseHandler(DpopNonces nonces, IOptions<DpopOptions> options) : IOpenIddictServerHandler<ApplyTokenResponseContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyTokenResponseContext>()
            .UseSingletonHandler<DpopTokenResponseHandler>()
            .SetOrder(int.MinValue + 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ApplyTokenResponseContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (string.IsNullOrEmpty(context.Response.Error) && !string.IsNullOrEmpty(context.Response.AccessToken)
            && context.Transaction.Properties.ContainsKey(Dpop.BindingProperty))
        {
            context.Response.TokenType = Dpop.TokenType;
        }

        if (options.Value.NonceRequiredFor(context.Request?.ClientId) && context.Transaction.GetHttpRequest()?.HttpContext.Response is { } response)
        {
            response.Headers[Dpop.NonceHeader] = nonces.Issue();
        }

        return ValueTask.CompletedTask;
    }
}
