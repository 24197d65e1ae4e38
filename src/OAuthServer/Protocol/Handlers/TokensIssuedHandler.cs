using OAuthServer.Observability;
using OpenIddict.Server;
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
