namespace OAuthServer.Events;

internal static class EventsServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthEvents(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<NatsOptions>().BindConfiguration(NatsOptions.Section);
        builder.Services.AddScoped<SecurityEvents>();
        builder.Services.AddScoped<Data.IPruningTask, SecurityEventPruningTask>();
        builder.Services.AddScoped<Data.IPruningTask, UnpublishedSecurityEventPruningTask>();
        builder.Services.AddSingleton<SecurityEventRelay>();
        builder.Services.AddHostedService(services => services.GetRequiredService<SecurityEventRelay>());
        builder.Services.AddHealthChecks().AddCheck<SecurityEventRelay>("nats", tags: ["ready"]);
        return builder;
    }
}
