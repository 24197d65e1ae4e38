using System.Diagnostics;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using OAuthServer.Observability;

namespace OAuthServer.Accounts;

/// <summary>The <c>Argon2</c> settings that bound the work, as opposed to the cost of one hash.</summary>
internal sealed class HashLimiterOptions
{
    [Range(1, 1024)]
    public int MaxConcurrentHashes { get; set; } = Environment.ProcessorCount;

    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan AcquireTimeout { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Thrown when no Argon2 slot frees up in time; answered with 503 "auth busy".</summary>
internal sealed class AuthBusyException(TimeSpan retryAfter) : Exception("auth busy")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>
/// Threat model "Argon2 DoS": a semaphore caps concurrent Argon2 operations, so a flood of logins costs at most
/// MaxConcurrentHashes × m of memory (the hasher keeps one block buffer per slot) and that many cores. A caller
/// that can't get a slot within AcquireTimeout is refused rather than queued without bound.
/// </summary>
internal sealed class PasswordHashLimiter(IOptions<HashLimiterOptions> options, OAuthMetrics metrics) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(options.Value.MaxConcurrentHashes, options.Value.MaxConcurrentHashes);

    /// <summary>How many operations may run at once.</summary>
    public int Slots { get; } = options.Value.MaxConcurrentHashes;

    /// <summary>Runs one memory-hard operation in a slot.</summary>
    public async Task<T> RunAsync<T>(string operation, Func<T> work, CancellationToken cancellationToken)
    {
        if (!await _slots.WaitAsync(options.Value.AcquireTimeout, cancellationToken))
        {
            metrics.PasswordHashBusy.Add(1);
            throw new AuthBusyException(RetryAfter);
        }

        metrics.PasswordHashInFlight.Add(1);
        var started = Stopwatch.GetTimestamp();
        try
        {
            return work();
        }
        finally
        {
            metrics.PasswordHashDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>("operation", operation));
            metrics.PasswordHashInFlight.Add(-1);
            _slots.Release();
        }
    }

    private TimeSpan RetryAfter => options.Value.AcquireTimeout < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : options.Value.AcquireTimeout;

    public void Dispose() => _slots.Dispose();
}
