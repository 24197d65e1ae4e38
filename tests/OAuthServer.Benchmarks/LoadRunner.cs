using System.Diagnostics;
using System.Globalization;

namespace OAuthServer.Benchmarks;

/// <summary>One scenario's numbers. Latencies are per operation (one HTTP exchange, or one whole sign-in).</summary>
internal sealed record ScenarioResult(string Name, long Operations, long Errors, double Seconds, double P50Ms, double P99Ms)
{
    public double Rps => Seconds > 0 ? Operations / Seconds : 0;

    public string? Note { get; init; }

    /// <summary>Server CPU time per successful operation, in ms (null for the ceilings, which run in this process).</summary>
    public double? ServerCpuMsPerOp { get; init; }
}

/// <summary>
/// Closed-loop load: each worker sends its next operation as soon as the last one ended, so the offered load
/// adapts to the server and the latencies are not inflated by a queue the tool built itself. Operations that
/// start during the warm-up are not measured.
/// </summary>
internal static class LoadRunner
{
    /// <summary>An operation returns true on success; false or an exception counts as an error.</summary>
    public delegate Task<bool> Operation(int worker, CancellationToken cancellationToken);

    /// <summary>The exceptions that failed operations, by scenario and type, for the report.</summary>
    public static System.Collections.Concurrent.ConcurrentDictionary<string, int> Exceptions { get; } = new(StringComparer.Ordinal);

    public static async Task<ScenarioResult> RunAsync(string name, int workers, TimeSpan warmup, TimeSpan duration, Operation operation, Func<TimeSpan>? serverCpu = null)
    {
        TimeSpan cpuStart = TimeSpan.Zero, cpuEnd = TimeSpan.Zero;
        var latencies = new List<long>[workers];
        var errors = new long[workers];
        var completed = 0L;
        var measuring = 0; // 0 warm-up, 1 measuring
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        long measureStart = 0, measureEnd = 0;

        var tasks = Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
        {
            var mine = latencies[worker] = new List<long>(4096);
            while (!stop.IsCancellationRequested)
            {
                var counted = Volatile.Read(ref measuring) == 1;
                var started = Stopwatch.GetTimestamp();
                bool ok;
                try
                {
                    // Note: an operation in flight when the window closes runs to its end (uncounted). Cancelling
                    // it would drop a refresh response the server already committed: the chain would then present
                    // a redeemed token next round, which the server rightly treats as a replay (invalid_grant,
                    // family revoked), and the next round would measure the tool's own breakage.
                    ok = await operation(worker, CancellationToken.None);
                }
                catch (Exception exception) when (exception is HttpRequestException or IOException or InvalidOperationException or OperationCanceledException or System.Text.Json.JsonException)
                {
                    ok = false;
                    var reason = $"{name}: {exception.GetType().Name}{(exception.InnerException is { } inner ? " (" + inner.GetType().Name + ": " + inner.Message + ")" : string.Empty)}";
                    Exceptions.AddOrUpdate(reason, 1, (_, count) => count + 1);
                }

                var ended = Stopwatch.GetTimestamp();
                // Note: only operations that started and ended inside the measured window count.
                if (!counted || stop.IsCancellationRequested)
                {
                    continue;
                }

                if (ok)
                {
                    mine.Add(ended - started);
                    Interlocked.Increment(ref completed);
                }
                else
                {
                    errors[worker]++;
                }
            }
        })).ToArray();

        var progress = Task.Run(async () =>
        {
            var lastCount = 0L;
            var lastTime = clock.Elapsed;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(2), stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                var now = clock.Elapsed;
                var count = Interlocked.Read(ref completed);
                var phase = Volatile.Read(ref measuring) == 1 ? "measuring" : "warm-up";
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  [{name}] {phase} {now.TotalSeconds,5:F0}s/{(warmup + duration).TotalSeconds:F0}s  ~{(count - lastCount) / (now - lastTime).TotalSeconds:F0} ops/s  errors={errors.Sum()}"));
                lastCount = count;
                lastTime = now;
            }
        });

        await Task.Delay(warmup);
        measureStart = Stopwatch.GetTimestamp();
        cpuStart = serverCpu?.Invoke() ?? TimeSpan.Zero;
        Volatile.Write(ref measuring, 1);
        await Task.Delay(duration);
        measureEnd = Stopwatch.GetTimestamp();
        cpuEnd = serverCpu?.Invoke() ?? TimeSpan.Zero;
        await stop.CancelAsync();
        await Task.WhenAll(tasks);
        await progress;

        var all = latencies.Where(list => list is not null).SelectMany(list => list).ToArray();
        var seconds = Stopwatch.GetElapsedTime(measureStart, measureEnd).TotalSeconds;
        var result = Summarise(name, all, errors.Sum(), seconds);
        return serverCpu is null || all.Length == 0 ? result : result with { ServerCpuMsPerOp = (cpuEnd - cpuStart).TotalMilliseconds / all.Length };
    }

    public static ScenarioResult Summarise(string name, long[] latencyTicks, long errors, double seconds)
    {
        Array.Sort(latencyTicks);
        return new ScenarioResult(name, latencyTicks.Length, errors, seconds, Percentile(latencyTicks, 0.50), Percentile(latencyTicks, 0.99));
    }

    private static double Percentile(long[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var index = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)] * 1000.0 / Stopwatch.Frequency;
    }
}
