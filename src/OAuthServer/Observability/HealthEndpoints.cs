using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using OAuthServer.Data;

namespace OAuthServer.Observability;

internal static class HealthEndpoints
{
    private const string ReadyTag = "ready";

    public static IHostApplicationBuilder AddOAuthHealth(this IHostApplicationBuilder builder)
    {
        // Note: readiness is false while the database is unreachable, so a load balancer stops sending
        // sign-ins to a node that can't serve them (auth-rs "dependency outage").
        builder.Services.AddHealthChecks().AddDbContextCheck<OAuthDbContext>("database", tags: [ReadyTag]);
        return builder;
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false })
            .WithName("Liveness").WithSummary("The process is up.");
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag) })
            .WithName("Readiness").WithSummary("The process can serve requests: the database answers.");
    }
}
