using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace OAuthServer.Observability;

/// <summary>The <c>Observability</c> settings: where <c>/metrics</c> answers.</summary>
internal sealed class ObservabilityOptions
{
    public const string Section = "Observability";

    /// <summary>
    /// When set, <c>/metrics</c> answers only on this local port, which the operator adds to the server's URLs
    /// (e.g. <c>ASPNETCORE_URLS=http://+:8080;http://+:9464</c>) and keeps off the public load balancer.
    /// </summary>
    public int? MetricsPort { get; set; }
}

internal static class ObservabilityServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthObservability(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ObservabilityOptions>().BindConfiguration(ObservabilityOptions.Section);
        builder.Services.AddExceptionHandler<DatabaseUnavailableExceptionHandler>();
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<OAuthMetrics>();
        // Note: logs are redacted JSON lines (Logging:Console:FormatterName = redacted-json) and every line
        // written during a request carries its trace id. No log statement of ours takes a password, token,
        // code, secret or pepper as an argument; ObservabilityTests prove nothing leaks from any component.
        builder.Logging.Configure(logging => logging.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        builder.Logging.AddConsoleFormatter<RedactingJsonFormatter, Microsoft.Extensions.Logging.Console.ConsoleFormatterOptions>();

        var telemetry = builder.Services.AddOpenTelemetry();
        // Tracing without an exporter: it makes ASP.NET Core start an Activity per request, which gives the
        // logs their trace id. An exporter can be added by configuration later.
        telemetry.WithTracing(tracing => tracing.AddAspNetCoreInstrumentation());
        telemetry.WithMetrics(metrics => metrics
            .AddMeter(OAuthMetrics.MeterName)
            .AddAspNetCoreInstrumentation()
            .AddRuntimeInstrumentation()
            .AddMeter("Microsoft.EntityFrameworkCore")
            .AddPrometheusExporter());
        return builder;
    }

    public static void MapMetrics(WebApplication app)
    {
        var port = app.Configuration.GetSection(ObservabilityOptions.Section).Get<ObservabilityOptions>()?.MetricsPort;
        var endpoint = app.MapPrometheusScrapingEndpoint("/metrics");
        if (port is { } managementPort)
        {
            // Note: decided by the port the connection arrived on, not by the Host header, which a client sets.
            endpoint.AddEndpointFilter((context, next) => context.HttpContext.Connection.LocalPort == managementPort
                ? next(context)
                : ValueTask.FromResult<object?>(Results.NotFound()));
        }
    }
}
