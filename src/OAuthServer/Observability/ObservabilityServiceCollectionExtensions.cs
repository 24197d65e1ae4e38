using Microsoft.Extensions.Logging.Console;
using OAuthServer.Protocol;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace OAuthServer.Observability;

internal static class ObservabilityServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthObservability(this IHostApplicationBuilder builder)
    {
        builder.AddOAuthManagementUrls();
        builder.Services.AddExceptionHandler<DatabaseUnavailableExceptionHandler>();
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<OAuthMetrics>();
        // Note: threat model 4.3, redaction at the source: the host's default providers (Debug, EventSource, and
        // EventLog on Windows) would receive every message unredacted, so they are removed, and the one sink
        // left, the console, always uses the redacting formatter whatever Logging:Console:FormatterName says.
        // Every line written during a request carries its trace id. No log statement of ours takes a password,
        // token, code, secret or pepper as an argument; LogRedactionTests prove nothing leaks from any component.
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole();
        builder.Logging.AddConsoleFormatter<RedactingJsonFormatter, ConsoleFormatterOptions>();
        builder.Services.PostConfigure<ConsoleLoggerOptions>(console => console.FormatterName = RedactingJsonFormatter.FormatterName);
        builder.Logging.Configure(logging => logging.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);

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

    /// <summary>
    /// <c>/metrics</c>, only when <c>Server:ManagementUrls</c> is set, and then only there (<see cref="ManagementUrls"/>).
    /// Note: not mapped at all otherwise, so no spelling of the path can reach it on a public URL.
    /// </summary>
    public static void MapMetrics(WebApplication app)
    {
        if (ManagementUrls.Configured(app.Configuration))
        {
            app.MapPrometheusScrapingEndpoint(ProtocolPaths.Metrics);
        }
    }
}
