using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;
using static OpenIddict.Server.OpenIddictServerHandlers.Exchange;

namespace OAuthServer.Protocol.Exchange;

/// <summary>
/// OpenIddict checks a requested <c>audience</c> or <c>resource</c> against one server-wide list fixed at start-up.
/// Our targets are per client and change with administration, so for token exchange that check is replaced by
/// <see cref="TokenExchangeRequestHandler"/>'s (the client's own list, <c>invalid_target</c>); for every other grant
/// OpenIddict's check runs unchanged (nothing is registered, so any audience or resource there is refused).
/// </summary>
internal sealed class SkipForTokenExchange : IOpenIddictServerHandlerFilter<ValidateTokenRequestContext>
{
    public ValueTask<bool> IsActiveAsync(ValidateTokenRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new(!context.Request.IsTokenExchangeGrantType());
    }

    /// <summary>Puts this filter on OpenIddict's two registry checks, in place (as <c>RemoveEventHandler</c> would drop both copies).</summary>
    public static void FilterBuiltInChecks(List<OpenIddictServerHandlerDescriptor> handlers)
    {
        ArgumentNullException.ThrowIfNull(handlers);
        foreach (var builtIn in new[] { ValidateAudiences.Descriptor, ValidateResources.Descriptor })
        {
            var index = handlers.IndexOf(builtIn);
            if (index < 0)
            {
                throw new InvalidOperationException($"OpenIddict's {builtIn.ServiceDescriptor.ServiceType.Name} is not registered; the token-exchange target rule can't be applied.");
            }

            handlers[index] = OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenRequestContext>()
                .Import(builtIn).AddFilter<SkipForTokenExchange>().Build();
        }
    }
}
