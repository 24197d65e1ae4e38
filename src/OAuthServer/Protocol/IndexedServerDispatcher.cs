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
/// endpoint) through an async iterator for each of the ~30 events of a token request, comparing each one's event type,
/// and resolves every filter and handler from the request's services. The profile of client_credentials had the walk at
/// ~10 % of the server's CPU and the resolutions at ~4 % (issue 15). Here each event type's steps are picked out once
/// per handler list (<see cref="ServerHandlerIndex"/>), with the filters and handlers registered as singletons resolved
/// once; scoped and transient ones are still resolved from the request's services on every dispatch, so every instance
/// lives exactly as long as its registration says.
/// </remarks>
internal sealed class IndexedServerDispatcher(IOptionsMonitor<OpenIddictServerOptions> options, ServerHandlerIndex index, IServiceProvider provider)
    : IOpenIddictServerDispatcher
{
    public async ValueTask DispatchAsync<TContext>(TContext context) where TContext : BaseContext
    {
        ArgumentNullException.ThrowIfNull(context);
        foreach (var step in index.For<TContext>(options.CurrentValue.Handlers))
        {
            // Note: filters and handlers nearly always complete synchronously; awaiting only the ones that don't keeps
            // the dispatch loop one state machine (this loop runs for every handler of every event).
            var active = true;
            for (var i = 0; i < step.Filters.Length; i++)
            {
                var filter = step.Filters[i] ?? step.ResolveFilter(provider, i);
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

            var handler = step.Handler ?? step.ResolveHandler(provider);
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
/// One handler of one event: its filters and the handler itself, each already resolved when it is a singleton (the
/// same instance every scope would get), otherwise null and resolved from the request's services.
/// </summary>
internal sealed class ServerHandlerStep<TContext>(
    OpenIddictServerHandlerDescriptor descriptor,
    IOpenIddictServerHandlerFilter<TContext>?[] filters,
    IOpenIddictServerHandler<TContext>? handler) where TContext : BaseContext
{
    public OpenIddictServerHandlerDescriptor Descriptor { get; } = descriptor;

    public IOpenIddictServerHandlerFilter<TContext>?[] Filters { get; } = filters;

    public IOpenIddictServerHandler<TContext>? Handler { get; } = handler;

    public IOpenIddictServerHandlerFilter<TContext> ResolveFilter(IServiceProvider provider, int index)
    {
        var type = Descriptor.FilterTypes[index];
        return provider.GetService(type) as IOpenIddictServerHandlerFilter<TContext>
            ?? throw new InvalidOperationException($"The handler filter {type} is not registered.");
    }

    public IOpenIddictServerHandler<TContext> ResolveHandler(IServiceProvider provider)
    {
        var type = Descriptor.ServiceDescriptor.ServiceType;
        return provider.GetService(type) as IOpenIddictServerHandler<TContext>
            ?? throw new InvalidOperationException($"The handler {type} is not registered.");
    }
}

/// <summary>
/// Each event type's handler steps, in OpenIddict's order, taken from one handler list (the options' list is sorted
/// once when the options are built; a different list, were the options ever rebuilt, is indexed afresh).
/// </summary>
/// <param name="root">The root services: a singleton resolved here is the instance every request scope would get.</param>
/// <param name="lifetimes">Which service types are registered as singletons.</param>
internal sealed class ServerHandlerIndex(IServiceProvider root, RegisteredLifetimes lifetimes)
{
    private readonly ConcurrentDictionary<Type, (List<OpenIddictServerHandlerDescriptor> Source, object Steps)> _byEvent = new();

    public ServerHandlerStep<TContext>[] For<TContext>(List<OpenIddictServerHandlerDescriptor> handlers) where TContext : BaseContext
    {
        if (_byEvent.TryGetValue(typeof(TContext), out var indexed) && ReferenceEquals(indexed.Source, handlers))
        {
            return (ServerHandlerStep<TContext>[]) indexed.Steps;
        }

        var steps = handlers.Where(descriptor => descriptor.ContextType == typeof(TContext)).Select(Step<TContext>).ToArray();
        _byEvent[typeof(TContext)] = (handlers, steps);
        return steps;
    }

    private ServerHandlerStep<TContext> Step<TContext>(OpenIddictServerHandlerDescriptor descriptor) where TContext : BaseContext
    {
        var filters = descriptor.FilterTypes
            .Select(type => lifetimes.IsSingleton(type) ? Resolve<IOpenIddictServerHandlerFilter<TContext>>(type, "handler filter") : null)
            .ToArray();
        var service = descriptor.ServiceDescriptor;
        var handler = service.ImplementationInstance as IOpenIddictServerHandler<TContext>
            ?? (lifetimes.IsSingleton(service.ServiceType) ? Resolve<IOpenIddictServerHandler<TContext>>(service.ServiceType, "handler") : null);
        return new ServerHandlerStep<TContext>(descriptor, filters, handler);
    }

    private T Resolve<T>(Type type, string what) where T : class =>
        root.GetService(type) as T ?? throw new InvalidOperationException($"The {what} {type} is not registered.");
}

/// <summary>
/// The lifetime each service type resolves with: its last registration's, as the container uses (keyed registrations
/// aside). Read from the service collection on first use, after the container was built from it.
/// </summary>
internal sealed class RegisteredLifetimes(IServiceCollection services)
{
    private readonly Lazy<HashSet<Type>> _singletons = new(() =>
    {
        var last = new Dictionary<Type, ServiceLifetime>();
        foreach (var descriptor in services.Where(descriptor => !descriptor.IsKeyedService))
        {
            last[descriptor.ServiceType] = descriptor.Lifetime;
        }

        return [.. last.Where(pair => pair.Value == ServiceLifetime.Singleton).Select(pair => pair.Key)];
    });

    public bool IsSingleton(Type type) => _singletons.Value.Contains(type);
}
