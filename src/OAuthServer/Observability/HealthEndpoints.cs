using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OAuthServer.Data;
using OAuthServer.Protocol;

namespace OAuthServer.Observability;

internal static class HealthEndpoints
{
    private const string ReadyTag = "ready";

    public static IHostApplicationBuilder AddOAuthHealth(this IHostApplicationBuilder builder)
    {
        // Note: readiness is false while the database is unreachable, so a load balancer stops sending
        // sign-ins to a node that can't serve them (threat model "dependency outage"), and while its schema lacks a
        // migration of this build: every login and token request would be a 500 on such a database.
        builder.Services.AddHealthChecks()
            .AddDbContextCheck<OAuthDbContext>("database", tags: [ReadyTag])
            .AddCheck<MigrationsHealthCheck>("migrations", tags: [ReadyTag]);
        builder.Services.AddSingleton<MigrationsHealthCheck>();
        return builder;
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapHealthChecks(ProtocolPaths.HealthLive, new HealthCheckOptions { Predicate = _ => false })
            .WithName("Liveness").WithSummary("The process is up.");
        app.MapHealthChecks(ProtocolPaths.HealthReady, new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = WriteReasonAsync,
        })
            .WithName("Readiness").WithSummary("The process can serve requests: the database answers and has every migration of this build.");
    }

    // Note: "Unhealthy" alone doesn't tell an operator what to do, so each failing check adds a line with its name
    // and description (only ours are shown: an exception's text could carry a host name or connection detail).
    // Healthy and Degraded answer the bare status, as the default writer does.
    private static Task WriteReasonAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var lines = new List<string> { report.Status.ToString() };
        if (report.Status == HealthStatus.Unhealthy)
        {
            lines.AddRange(report.Entries.Where(entry => entry.Value.Status == HealthStatus.Unhealthy)
                .Select(entry => $"{entry.Key}: {(entry.Value.Exception is null ? entry.Value.Description : null) ?? "unhealthy"}"));
        }

        return context.Response.WriteAsync(string.Join('\n', lines));
    }
}
