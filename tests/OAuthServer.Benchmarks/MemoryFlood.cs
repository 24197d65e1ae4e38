using System.Diagnostics;
using System.Net;

namespace OAuthServer.Benchmarks;

internal sealed record MemoryResult(int Logins, int Succeeded, int Busy, int Other, long IdleRss, long PeakRss, long Bound, string PeakSource, double Seconds)
{
    public bool Met => PeakRss <= Bound;
}

/// <summary>
/// auth-rs "Argon2 DoS": many logins at once must not take memory beyond the hash limiter's bound. The idle RSS
/// is read after a quiet pause; the peak is the kernel's high-water mark (VmHWM, reset just before the flood)
/// and a 2 ms sampler of VmRSS, whichever is higher.
/// </summary>
internal static class MemoryFlood
{
    public static async Task<MemoryResult> RunAsync(ServerUnderTest server, ProtocolClient client, BenchmarkOptions options)
    {
        ServerUnderTest.Log($"memory-flood: {options.FloodLogins} concurrent login POSTs");
        var forms = new List<(Dictionary<string, string> Fields, Dictionary<string, string> Cookies)>();
        for (var i = 0; i < options.FloodLogins; i++)
        {
            var form = await client.LoginFormAsync(CancellationToken.None)
                ?? throw new InvalidOperationException("the login page did not load");
            form.Fields["email"] = ServerUnderTest.UserEmail(i + 1);
            form.Fields["password"] = ServerUnderTest.Password;
            forms.Add(form);
        }

        // Idle: the server after its warm-up sign-in and the login pages above, given time to settle.
        await Task.Delay(TimeSpan.FromSeconds(5));
        var idle = server.ReadRss().Rss;
        var hwm = server.ResetPeakRss();
        var sampledPeak = idle;
        using var stopSampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stopSampling.IsCancellationRequested)
            {
                sampledPeak = Math.Max(sampledPeak, server.ReadRss().Rss);
                await Task.Delay(2);
            }
        });

        var clock = Stopwatch.StartNew();
        using var start = new ManualResetEventSlim();
        var statuses = await Task.WhenAll(forms.Select(form => Task.Run(async () =>
        {
            start.Wait();
            try
            {
                return await client.PostLoginAsync(form.Fields, form.Cookies, CancellationToken.None);
            }
            catch (HttpRequestException)
            {
                return (HttpStatusCode)0;
            }
        })).Append(Task.Run(() =>
        {
            start.Set();
            return HttpStatusCode.Continue;
        })));
        var seconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(500);
        await stopSampling.CancelAsync();
        await sampler;

        var (_, kernelPeak) = server.ReadRss();
        var peak = hwm ? Math.Max(kernelPeak, sampledPeak) : sampledPeak;
        var results = statuses.Where(status => status != HttpStatusCode.Continue).ToList();
        var bound = idle + server.MaxConcurrentHashes * server.Argon2MemoryKiB * 1024L + 64L * 1024 * 1024;
        return new MemoryResult(
            results.Count,
            results.Count(status => status == HttpStatusCode.Redirect),
            results.Count(status => status == HttpStatusCode.ServiceUnavailable),
            results.Count(status => status is not (HttpStatusCode.Redirect or HttpStatusCode.ServiceUnavailable)),
            idle, peak, bound, hwm ? "VmHWM + 2 ms VmRSS samples" : "2 ms VmRSS samples", seconds);
    }
}
