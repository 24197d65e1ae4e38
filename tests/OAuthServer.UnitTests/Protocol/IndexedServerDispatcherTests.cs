using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OAuthServer.Protocol;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.UnitTests.Protocol;

/// <summary>Our dispatcher runs exactly what OpenIddict's own runs, for the same handler list.</summary>
public sealed class IndexedServerDispatcherTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task It_runs_the_same_handlers_in_the_same_order_and_stops_where_OpenIddicts_dispatcher_stops(bool reject)
    {
        var (provider, options, services) = Build(reject);
        var ours = new IndexedServerDispatcher(options, new ServerHandlerIndex(provider, new RegisteredLifetimes(services)), provider);
        var theirs = new OpenIddictServerDispatcher(NullLogger<OpenIddictServerDispatcher>.Instance, options, provider);

        var oursRan = await RunAsync(ours, provider);
        var theirsRan = await RunAsync(theirs, provider);

        oursRan.Should().Equal(theirsRan);
        oursRan.Should().Equal(reject ? ["first", "rejecting"] : ["first", "rejecting", "last"],
            "the filtered-out handler and the other event's handler never run, and a rejection stops the event");
    }

    [Fact]
    public void A_new_handler_list_is_indexed_afresh()
    {
        var (provider, options, services) = Build(reject: false);
        var index = new ServerHandlerIndex(provider, new RegisteredLifetimes(services));
        var first = options.CurrentValue.Handlers;
        index.For<ProcessSignInContext>(first).Should().HaveCount(4);

        var second = first.Where(descriptor => descriptor.Order != 2).ToList();
        index.For<ProcessSignInContext>(second).Should().HaveCount(3);
        index.For<ProcessSignInContext>(first).Should().HaveCount(4);
    }

    [Fact]
    public async Task Singleton_filters_and_handlers_are_resolved_once_and_scoped_ones_in_every_request_scope()
    {
        var services = new ServiceCollection();
        services.AddSingleton<CountingFilter>();
        services.AddSingleton<SingletonHandler>();
        services.AddScoped<ScopedHandler>();
        var provider = services.BuildServiceProvider();
        var options = new OpenIddictServerOptions();
        options.Handlers.Clear();
        options.Handlers.Add(OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .AddFilter<CountingFilter>().UseSingletonHandler<SingletonHandler>().SetOrder(1).Build());
        options.Handlers.Add(OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .UseScopedHandler<ScopedHandler>().SetOrder(2).Build());
        var index = new ServerHandlerIndex(provider, new RegisteredLifetimes(services));

        var seen = new List<object?>();
        for (var request = 0; request < 3; request++)
        {
            using var scope = provider.CreateScope();
            var dispatcher = new IndexedServerDispatcher(new StaticOptions(options), index, scope.ServiceProvider);
            var context = new ProcessSignInContext(new OpenIddictServerTransaction());
            await dispatcher.DispatchAsync(context);
            seen.AddRange(context.Transaction.Properties.Values);
        }

        var singletons = seen.OfType<SingletonHandler>().ToList();
        var scoped = seen.OfType<ScopedHandler>().ToList();
        singletons.Should().HaveCount(3).And.OnlyContain(handler => ReferenceEquals(handler, provider.GetRequiredService<SingletonHandler>()),
            "a singleton is the root's one instance, whichever scope asks");
        scoped.Should().HaveCount(3).And.OnlyHaveUniqueItems("a scoped handler is a new instance in every request's scope");
        provider.GetRequiredService<CountingFilter>().Checks.Should().Be(3, "the filter still runs on every dispatch");
    }

    private static async Task<List<string>> RunAsync(IOpenIddictServerDispatcher dispatcher, IServiceProvider provider)
    {
        var ran = provider.GetRequiredService<List<string>>();
        ran.Clear();
        await dispatcher.DispatchAsync(new ProcessSignInContext(new OpenIddictServerTransaction()));
        return [.. ran];
    }

    private static (IServiceProvider Provider, IOptionsMonitor<OpenIddictServerOptions> Options, IServiceCollection Services) Build(bool reject)
    {
        var ran = new List<string>();
        var options = new OpenIddictServerOptions();
        options.Handlers.Clear(); // OpenIddict's built-in handlers, which need the whole server's services
        // Note: listed out of order on purpose: OpenIddict sorts its list once, and both dispatchers follow the list.
        options.Handlers.AddRange(new[]
        {
            Handler<ProcessSignInContext>(3, "last", ran),
            Handler<ProcessSignInContext>(1, "first", ran),
            Handler<ProcessAuthenticationContext>(1, "other event", ran),
            Handler<ProcessSignInContext>(2, "rejecting", ran, context => { if (reject) { context.Reject("invalid_grant"); } }),
            Handler<ProcessSignInContext>(0, "filtered out", ran, filtered: true),
        }.OrderBy(descriptor => descriptor.Order));

        var services = new ServiceCollection();
        services.AddSingleton(ran);
        services.AddSingleton<NeverActive>();
        return (services.BuildServiceProvider(), new StaticOptions(options), services);
    }

    private static OpenIddictServerHandlerDescriptor Handler<TContext>(int order, string name, List<string> ran, Action<TContext>? act = null, bool filtered = false)
        where TContext : BaseContext
    {
        var builder = OpenIddictServerHandlerDescriptor.CreateBuilder<TContext>()
            .UseInlineHandler(context =>
            {
                ran.Add(name);
                act?.Invoke(context);
                return default;
            })
            .SetOrder(order);
        if (filtered)
        {
            builder.AddFilter<NeverActive>();
        }

        return builder.Build();
    }

    private sealed class NeverActive : IOpenIddictServerHandlerFilter<BaseContext>
    {
        public ValueTask<bool> IsActiveAsync(BaseContext context) => ValueTask.FromResult(false);
    }

    private sealed class CountingFilter : IOpenIddictServerHandlerFilter<BaseContext>
    {
        public int Checks { get; private set; }

        public ValueTask<bool> IsActiveAsync(BaseContext context)
        {
            Checks++;
            return ValueTask.FromResult(true);
        }
    }

    private sealed class SingletonHandler : IOpenIddictServerHandler<ProcessSignInContext>
    {
        public ValueTask HandleAsync(ProcessSignInContext context)
        {
            context.Transaction.Properties["singleton"] = this;
            return default;
        }
    }

    private sealed class ScopedHandler : IOpenIddictServerHandler<ProcessSignInContext>
    {
        public ValueTask HandleAsync(ProcessSignInContext context)
        {
            context.Transaction.Properties["scoped"] = this;
            return default;
        }
    }

    private sealed class StaticOptions(OpenIddictServerOptions value) : IOptionsMonitor<OpenIddictServerOptions>
    {
        public OpenIddictServerOptions CurrentValue => value;

        public OpenIddictServerOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<OpenIddictServerOptions, string?> listener) => null;
    }
}
