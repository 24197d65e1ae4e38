using Microsoft.Extensions.Options;

namespace OAuthServer.Data;

/// <summary>The <c>Pruning</c> section: what the database forgets, and when.</summary>
internal sealed class PruningOptions
{
    public const string Section = "Pruning";

    /// <summary>Off only for a deployment that prunes by other means.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between two pruning runs (each node runs its own; the deletes are idempotent).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Revoked, redeemed and expired tokens, and dead authorizations, are kept this long after they were created.
    /// It must be at least the refresh-token lifetime: a redeemed refresh token is the evidence that detects its
    /// replay, and a pruned one would only be "unknown".
    /// </summary>
    public TimeSpan TokenRetention { get; set; } = TimeSpan.FromDays(14);

    /// <summary>Published security events are kept this long in the outbox.</summary>
    public TimeSpan SecurityEventRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Security events never published (NATS unset, or away this long) are kept this long after they occurred, then
    /// dropped: every failed login adds a row, and an outbox nobody drains must not grow without bound. Longer than
    /// any outage the pending-events alert lets go unnoticed.
    /// </summary>
    public TimeSpan UnpublishedEventRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Audit rows are kept this long; they are the evidence of every privileged change.</summary>
    public TimeSpan AuditRetention { get; set; } = TimeSpan.FromDays(400);

    /// <summary>Rows deleted per statement (<see cref="BatchedDelete"/>), so a large backlog never holds long locks.</summary>
    public int BatchSize { get; set; } = 1_000;
}

internal sealed class PruningOptionsValidator(IOptions<Protocol.TokenOptions> tokens) : IValidateOptions<PruningOptions>
{
    public ValidateOptionsResult Validate(string? name, PruningOptions options)
    {
        var failures = new List<string>();
        if (options.Interval < TimeSpan.FromSeconds(1))
        {
            failures.Add("Pruning:Interval must be at least 00:00:01.");
        }

        if (options.TokenRetention < tokens.Value.RefreshTokenLifetime)
        {
            failures.Add("Pruning:TokenRetention must be at least Tokens:RefreshTokenLifetime, or replays of old refresh tokens go undetected.");
        }

        if (options.SecurityEventRetention <= TimeSpan.Zero)
        {
            failures.Add("Pruning:SecurityEventRetention must be positive.");
        }

        if (options.UnpublishedEventRetention < TimeSpan.FromHours(1))
        {
            failures.Add("Pruning:UnpublishedEventRetention must be at least 01:00:00: a short NATS outage must not lose events.");
        }

        // Note: threat model 3.3: an investigation needs at least a year of privileged changes.
        if (options.AuditRetention < TimeSpan.FromDays(30))
        {
            failures.Add("Pruning:AuditRetention must be at least 30 days.");
        }

        if (options.BatchSize is < 1 or > 100_000)
        {
            failures.Add("Pruning:BatchSize must be between 1 and 100000.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// One kind of row the pruner removes. Each room registers its own (tokens and authorizations, the event
/// outbox, the admin audit trail): <c>services.AddScoped&lt;IPruningTask, ...&gt;()</c>.
/// </summary>
internal interface IPruningTask
{
    string Name { get; }

    /// <summary>Deletes what is due at <paramref name="now"/> and returns how many rows went.</summary>
    Task<long> PruneAsync(DateTimeOffset now, PruningOptions options, CancellationToken cancellationToken);
}

/// <summary>
/// Runs every <see cref="IPruningTask"/> once per interval. A failing task (the database away) is logged and
/// retried at the next run; it never stops the service, since a crashed background service stops the host.
/// </summary>
internal sealed partial class DatabasePruner(
    IServiceScopeFactory scopes, IOptions<PruningOptions> options, TimeProvider clock, ILogger<DatabasePruner> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(settings.Interval, clock, stoppingToken);
                await PruneOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }
    }

    /// <summary>One run of every task; returns the rows removed per task.</summary>
    public async Task<IReadOnlyDictionary<string, long>> PruneOnceAsync(CancellationToken cancellationToken)
    {
        var removed = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var scope = scopes.CreateAsyncScope();
        foreach (var task in scope.ServiceProvider.GetServices<IPruningTask>())
        {
            try
            {
                removed[task.Name] = await task.PruneAsync(clock.GetUtcNow(), options.Value, cancellationToken);
                if (removed[task.Name] > 0)
                {
                    LogPruned(logger, task.Name, removed[task.Name]);
                }
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                LogFailed(logger, task.Name, exception.GetType().Name, exception.Message);
            }
        }

        return removed;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pruned {Count} rows: {Task}")]
    private static partial void LogPruned(ILogger logger, string task, long count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pruning {Task} failed ({ExceptionType}: {Reason}); retrying at the next run")]
    private static partial void LogFailed(ILogger logger, string task, string exceptionType, string reason);
}

internal static class PruningServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthPruning(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<PruningOptions>().BindConfiguration(PruningOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<PruningOptions>, PruningOptionsValidator>();
        builder.Services.AddSingleton<DatabasePruner>();
        builder.Services.AddHostedService(services => services.GetRequiredService<DatabasePruner>());
        return builder;
    }
}
