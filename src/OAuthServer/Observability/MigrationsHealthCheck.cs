using Microsoft.Extensions.Diagnostics.HealthChecks;
using OAuthServer.Data;

namespace OAuthServer.Observability;

/// <summary>
/// Unhealthy while the database lacks a migration this build needs (never migrated, or migrated by an older
/// release). Once the schema is up to date it stays so for the life of the process, so later probes cost nothing.
/// </summary>
internal sealed class MigrationsHealthCheck(IServiceScopeFactory scopes) : IHealthCheck
{
    private volatile bool _upToDate;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (_upToDate)
        {
            return HealthCheckResult.Healthy("The database schema is up to date.");
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
        IReadOnlyList<string> pending;
        try
        {
            pending = await DatabaseMigrator.PendingAsync(db, cancellationToken);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "The migration history could not be read (is the database reachable?).");
        }

        if (pending.Count == 0)
        {
            _upToDate = true;
            return HealthCheckResult.Healthy("The database schema is up to date.");
        }

        return new HealthCheckResult(context.Registration.FailureStatus,
            $"{pending.Count} migration(s) not applied ({pending[0]}{(pending.Count > 1 ? ", ..." : string.Empty)}): run the `migrate` verb of this build against the database.");
    }
}
