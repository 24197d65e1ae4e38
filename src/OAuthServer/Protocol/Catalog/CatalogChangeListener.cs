using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace OAuthServer.Protocol.Catalog;

/// <summary>
/// Keeps one PostgreSQL connection listening on <see cref="CatalogChangeNotifier.Channel"/> and turns every change
/// notification into <see cref="CatalogCache.Invalidate"/>. Every <see cref="ProbeInterval"/> it sends a probe
/// notification from an ordinary pooled connection (the path every writer's notification takes) and switches the
/// cache on only while the probe comes back; on SQLite there is no listener and the cache stays off.
/// </summary>
/// <remarks>
/// Note: a notification is lost while nobody listens, so the cache is off, and emptied, from the moment the listener
/// loses its connection until it listens again and its probe has arrived. A deployment whose writers reach PostgreSQL
/// through a pooler that drops notifications (PgBouncer in transaction mode) never gets a probe back and simply runs
/// without the cache.
/// </remarks>
internal sealed partial class CatalogChangeListener(IServiceScopeFactory scopes, CatalogCache catalog, ILogger<CatalogChangeListener> logger) : BackgroundService
{
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    private const string ProbePrefix = "probe:";

    private volatile string? _probe;
    private volatile bool _probeArrived;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string? connectionString;
        using (var scope = scopes.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<Data.OAuthDbContext>();
            connectionString = db.Database.IsNpgsql() ? db.Database.GetConnectionString() : null;
        }

        if (connectionString is null)
        {
            return;
        }

        var retry = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(connectionString, stoppingToken);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                if (catalog.Active)
                {
                    LogCacheOff(logger, exception.GetType().Name);
                }

                catalog.SetListening(false);
                await Task.Delay(retry, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }

        catalog.SetListening(false);
    }

    private async Task ListenAsync(string connectionString, CancellationToken stoppingToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(stoppingToken);
        connection.Notification += (_, notification) => OnNotification(notification.Payload);
        await using (var listen = new NpgsqlCommand($"LISTEN {CatalogChangeNotifier.Channel}", connection))
        {
            await listen.ExecuteNonQueryAsync(stoppingToken);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            if (!await ProbeAsync(connectionString, connection, stoppingToken))
            {
                throw new TimeoutException("the probe notification did not arrive");
            }

            if (!catalog.Active)
            {
                // Note: anything may have changed while nobody listened; SetListening starts an empty generation.
                catalog.SetListening(true);
                LogCacheOn(logger);
            }

            await WaitUntilAsync(connection, DateTime.UtcNow + ProbeInterval, () => false, stoppingToken);
        }
    }

    private async Task<bool> ProbeAsync(string connectionString, NpgsqlConnection listener, CancellationToken stoppingToken)
    {
        var probe = ProbePrefix + Guid.NewGuid().ToString("N");
        _probeArrived = false;
        _probe = probe;
        await using (var sender = new NpgsqlConnection(connectionString))
        {
            await sender.OpenAsync(stoppingToken);
            await using var notify = new NpgsqlCommand("SELECT pg_notify(@channel, @payload)", sender);
            notify.Parameters.AddWithValue("channel", CatalogChangeNotifier.Channel);
            notify.Parameters.AddWithValue("payload", probe);
            await notify.ExecuteNonQueryAsync(stoppingToken);
        }

        await WaitUntilAsync(listener, DateTime.UtcNow + ProbeTimeout, () => _probeArrived, stoppingToken);
        return _probeArrived;
    }

    // Delivers notifications (OnNotification runs inside WaitAsync) until the deadline or until done() holds.
    private static async Task WaitUntilAsync(NpgsqlConnection listener, DateTime deadline, Func<bool> done, CancellationToken stoppingToken)
    {
        while (!done() && !stoppingToken.IsCancellationRequested)
        {
            var left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
            if (left <= 0)
            {
                return;
            }

            await listener.WaitAsync(left, stoppingToken);
        }
    }

    private void OnNotification(string payload)
    {
        if (payload.StartsWith(ProbePrefix, StringComparison.Ordinal))
        {
            // Note: other nodes' probes say nothing about clients or scopes.
            if (payload == _probe)
            {
                _probeArrived = true;
            }

            return;
        }

        catalog.Invalidate();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Client and scope cache off: change notifications can't be received ({Error}); reading them from the database until they can")]
    private static partial void LogCacheOff(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Client and scope cache on: change notifications arrive")]
    private static partial void LogCacheOn(ILogger logger);
}
