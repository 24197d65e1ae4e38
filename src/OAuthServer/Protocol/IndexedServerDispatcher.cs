using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// OpenIddict's event dispatcher with the handler list indexed by event: the same handlers, in the same order, behind
/// the same filters, stopping at the same points as OpenIddict's own <see cref="OpenIddictServerDispatcher"/>.
/// </summary>
/// <remarks>
/// Note: OpenIddict's dispatcher walks every registered handler descriptor (several hundred, every event of every
/// endpoint) through an async iterator for each of the ~30 events of a token request, comparing each one's event type.
/// The profile of client_credentials had that walk at ~10 % of the server's CPU (issue 15). Here each event type's
/// descriptors are picked out once per options instance (<see cref="ServerHandlerIndex"/>); filters and handlers are still
/// resolved from the request's services on every dispatch, so their lifetimes are what their registrations say.
/// </remarks>
internal sealed class IndexedServerDispatcher(IOptionsMonitor<OpenIddictServerOptions> options, ServerHandlerIndex index, IServiceProvider provider)
    : IOpenIddictServerDispatcher
{
    public async ValueTask DispatchAsync<TContext>(TContext context) where TContext : BaseContext
    {
        ArgumentNullException.ThrowIfNull(context);
        foreach (var descriptor in index.For<TContext>(options.CurrentValue.Handlers))
        {
            // Note: filters and handlers nearly always complete synchronously; awaiting only the ones that don't keeps
            // the dispatch loop one state machine (this loop runs for every handler of every event).
            var active = true;
            foreach (var type in descriptor.FilterTypes)
            {
                var filter = provider.GetService(type) as IOpenIddictServerHandlerFilter<TContext>
                    ?? throw new InvalidOperationException($"The handler filter {type} is not registered.");
                var check = filter.IsActiveAsync(context);
                if (!(check.IsCompletedSuccessfully ? check.Result : await check))
                {
                    active = false;
                    break;
                }
            }

            if (!active)
            {
                continue;
            }

            var handler = descriptor.ServiceDescriptor.ImplementationInstance as IOpenIddictServerHandler<TContext>
                ?? provider.GetService(descriptor.ServiceDescriptor.ServiceType) as IOpenIddictServerHandler<TContext>
                ?? throw new InvalidOperationException($"The handler {descriptor.ServiceDescriptor.ServiceType} is not registered.");
            var handling = handler.HandleAsync(context);
            if (handling.IsCompletedSuccessfully)
            {
                handling.GetAwaiter().GetResult(); // consumes it, as a ValueTask must be
            }
            else
            {
                await handling;
            }

            // The same stopping points as OpenIddict's dispatcher: a handled or skipped request, or a rejection.
            if (context is BaseRequestContext { IsRequestHandled: true } or BaseRequestContext { IsRequestSkipped: true }
                or BaseValidatingContext { IsRejected: true })
            {
                return;
            }
        }
    }
}

/// <summary>
/// Each event type's handler descriptors, in OpenIddict's order, taken from one handler list (the options' list is
/// sorted once when the options are built; a different list, were the options ever rebuilt, is indexed afresh).
/// </summary>
internal sealed class ServerHandlerIndex
{
    private readonly ConcurrentDictionary<Type, (List<OpenIddictServerHandlerDescriptor> Source, OpenIddictServerHandlerDescriptor[] Descriptors)> _byEvent = new();

    public OpenIddictServerHandlerDescriptor[] For<TContext>(List<OpenIddictServerHandlerDescriptor> handlers)
    {
        if (_byEvent.TryGetValue(typeof(TContext), out var indexed) && ReferenceEquals(indexed.Source, handlers))
        {
            return indexed.Descriptors;
        }

        var descriptors = handlers.Where(descriptor => descriptor.ContextType == typeof(TContext)).ToArray();
        _byEvent[typeof(TContext)] = (handlers, descriptors);
        return descriptors;
    }
}
