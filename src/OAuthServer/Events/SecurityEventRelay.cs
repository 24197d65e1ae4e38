using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using OAuthServer.Data;
using OAuthServer.Observability;

namespace OAuthServer.Events;

/// <summary>
/// Publishes the outbox to JetStream. Requests never wait on it: they only add rows. It sends the oldest
/// pending events in batches with <c>Nats-Msg-Id</c> set to the event id, so a retry (or a second node relaying
/// the same row) is dropped by JetStream's duplicate window, and marks a row published only after JetStream's
/// acknowledgement: an event is never lost, and never delivered twice within the window.
/// </summary>
internal sealed partial class SecurityEventRelay(
    IServiceScopeFactory scopes, IOptions<NatsOptions> options, OAuthMetrics metrics, TimeProvider clock, ILogger<SecurityEventRelay> logger)
    : BackgroundService, IHealthCheck
{
    private const int BatchSize = 100;
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private volatile string? _lastError = "not connected yet";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(options.Value.Url is null
            ? HealthCheckResult.Healthy("NATS is not configured; events stay in the outbox.")
            : _lastError is null
                ? HealthCheckResult.Healthy("Publishing security events to JetStream.")
                // Note: degraded, not unhealthy: sign-in works without NATS, and events wait in the outbox.
                : HealthCheckResult.Degraded($"Security events are queued: {_lastError}"));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.Url is null)
        {
            LogDisabled(logger);
            await CountPendingUntilStoppedAsync(settings, stoppingToken);
            return;
        }

        await using var connection = new NatsConnection(new NatsOpts { Url = settings.Url, Name = "oauthserver-relay" });
        var jetStream = new NatsJSContext(connection);
        var streamReady = false;
        var backoff = TimeSpan.FromMilliseconds(500);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!streamReady)
                {
                    await jetStream.CreateOrUpdateStreamAsync(
                        new StreamConfig(NatsOptions.Stream, [NatsOptions.SubjectPrefix + ">"]) { DuplicateWindow = TimeSpan.FromMinutes(10) },
                        stoppingToken);
                    streamReady = true;
                }

                var published = await PublishBatchAsync(jetStream, stoppingToken);
                if (_lastError is not null)
                {
                    LogRecovered(logger);
                }

                _lastError = null;
                backoff = TimeSpan.FromMilliseconds(500);
                if (published < BatchSize)
                {
                    // Note: published rows are pruned by Data/DatabasePruner (Pruning:SecurityEventRetention).
                    await Task.Delay(settings.PollInterval, clock, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                // Note: any failure (NATS away, database away) only delays publishing; the relay must never
                // stop, because a crashed background service would take the whole server down with it.
                metrics.EventPublishFailures.Add(1);
                if (_lastError is null)
                {
                    LogUnavailable(logger, exception.Message);
                }

                _lastError = exception.Message;
                streamReady = false;
                // Note: the gauge is otherwise recounted only after a publish; while delivery is stuck it must
                // still show the backlog growing, or the pending-events alert never fires.
                await TryCountPendingAsync(stoppingToken);
                await Task.Delay(backoff, clock, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
                // Capped exponential backoff while NATS is away.
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, settings.MaxBackoff.Ticks));
            }
        }

        await FlushAsync(jetStream, settings);
    }

    /// <summary>
    /// At shutdown, publishes what is still pending, for a bounded time. The web server stops first (ASP.NET Core
    /// registers it last), so the events of the requests it drained are in the outbox by now. Whatever is left
    /// stays in the outbox for the next start, or for another node's relay: nothing is lost either way.
    /// </summary>
    private async Task FlushAsync(NatsJSContext jetStream, NatsOptions settings)
    {
        using var deadline = new CancellationTokenSource(settings.ShutdownFlushTimeout);
        try
        {
            var flushed = 0;
            int published;
            do
            {
                published = await PublishBatchAsync(jetStream, deadline.Token);
                flushed += published;
            }
            while (published == BatchSize);

            LogFlushed(logger, flushed);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            LogFlushIncomplete(logger, exception.GetType().Name);
        }
    }

    private async Task<int> PublishBatchAsync(NatsJSContext jetStream, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
        var batch = await db.SecurityEvents.Where(item => item.PublishedAt == null)
            .OrderBy(item => item.OccurredAt).Take(BatchSize).ToListAsync(cancellationToken);
        foreach (var item in batch)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            var ack = await jetStream.PublishAsync(
                NatsOptions.SubjectPrefix + item.Type,
                JsonSerializer.SerializeToUtf8Bytes(Body.From(item), Json),
                opts: new NatsJSPubOpts { MsgId = item.Id.ToString() },
                cancellationToken: timeout.Token);
            ack.EnsureSuccess();
            item.PublishedAt = clock.GetUtcNow().UtcDateTime;
            // Note: each acknowledged event is marked at once, so a failure later in the batch loses nothing.
            await db.SaveChangesAsync(cancellationToken);
            metrics.EventsPublished.Add(1, new KeyValuePair<string, object?>("type", item.Type));
        }

        metrics.SetPendingEvents(await db.SecurityEvents.LongCountAsync(item => item.PublishedAt == null, cancellationToken));
        return batch.Count;
    }

    private async Task TryCountPendingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
            metrics.SetPendingEvents(await db.SecurityEvents.LongCountAsync(item => item.PublishedAt == null, cancellationToken));
        }
        catch (Exception exception) when (exception is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
        {
            // The database may be away too; the gauge keeps its last count until the next attempt.
        }
    }

    private async Task CountPendingUntilStoppedAsync(NatsOptions settings, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
                metrics.SetPendingEvents(await db.SecurityEvents.LongCountAsync(item => item.PublishedAt == null, stoppingToken));
                await Task.Delay(settings.PollInterval * 10, clock, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception) when (!stoppingToken.IsCancellationRequested)
            {
                // The database may be away; the count is only a gauge, so try again later.
                await Task.Delay(settings.MaxBackoff, clock, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    /// <summary>The published body: architecture §6. Never a credential or token.</summary>
    internal sealed record Body(
        [property: JsonPropertyName("id")] Guid Id,
        [property: JsonPropertyName("type")] string Type,
        [property: JsonPropertyName("occurred_at")] DateTime OccurredAt,
        [property: JsonPropertyName("user_id")] Guid? UserId,
        [property: JsonPropertyName("client_id")] string? ClientId,
        [property: JsonPropertyName("ip")] string? Ip,
        [property: JsonPropertyName("user_agent")] string? UserAgent,
        [property: JsonPropertyName("data")] JsonElement Data)
    {
        public static Body From(SecurityEvent item) => new(
            item.Id, item.Type, DateTime.SpecifyKind(item.OccurredAt, DateTimeKind.Utc), item.UserId, item.ClientId, item.Ip, item.UserAgent,
            JsonDocument.Parse(item.Data).RootElement.Clone());
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Nats:Url is not set: security events are kept in the outbox only")]
    private static partial void LogDisabled(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "NATS JetStream is unavailable ({Reason}); security events are queued in the outbox and will be sent when it returns")]
    private static partial void LogUnavailable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down: published {Count} pending security events")]
    private static partial void LogFlushed(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutting down: could not publish every pending security event ({ExceptionType}); they stay in the outbox")]
    private static partial void LogFlushIncomplete(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Information, Message = "NATS JetStream is reachable again; publishing queued security events")]
    private static partial void LogRecovered(ILogger logger);
}
