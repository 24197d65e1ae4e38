using System.Diagnostics;
using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace OAuthServer.IntegrationTests.Accounts;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurement
{
    public const string Name = "isolated measurements (run alone)";
}

/// <summary>
/// auth-rs "Argon2 DoS": however many logins arrive at once, Argon2 memory is bounded by the limiter to
/// MaxConcurrentHashes × m. Runs alone so other tests' allocations don't blur the figure.
/// </summary>
[Collection(MemoryMeasurement.Name)]
public sealed class HashMemoryTests(ITestOutputHelper output)
{
    private const int MaxConcurrentHashes = 2;
    private const int MemoryKiB = 19 * 1024;
    private const long MarginBytes = 96L * 1024 * 1024;

    [Fact]
    public async Task Two_hundred_parallel_logins_keep_memory_within_the_limiters_bound()
    {
        await using var node = await CustomServer.StartAsync(new()
        {
            ["Argon2:MaxConcurrentHashes"] = MaxConcurrentHashes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Argon2:AcquireTimeout"] = "00:01:00", // the longest allowed: the subject is memory, not latency
            ["Argon2:MemoryKiB"] = MemoryKiB.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var email = await node.CreateUserAsync();
        var pages = await Task.WhenAll(Enumerable.Range(0, 200).Select(async _ =>
        {
            var flow = new BrowserFlow(node);
            return (flow, page: await flow.FollowAsync("/account/login"));
        }));
        // Warm-up: JIT and the first login's one-off allocations. (The dummy hash for unknown emails is made at
        // start-up, and this flood uses a known email anyway.)
        await node.LoginAsync(email, TestData.Password);

        using var process = Process.GetCurrentProcess();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        process.Refresh();
        var baseline = process.WorkingSet64;
        var peak = baseline;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                process.Refresh();
                peak = Math.Max(peak, process.WorkingSet64);
                await Task.Delay(5);
            }
        });

        var started = Stopwatch.StartNew();
        var responses = await Task.WhenAll(pages.Select(item => item.flow.SubmitLoginAsync(item.page, email, "wrong-password-attempt")));
        started.Stop();
        await sampling.CancelAsync();
        await sampler;

        var bound = (long)MaxConcurrentHashes * MemoryKiB * 1024 + MarginBytes;
        output.WriteLine($"200 parallel logins in {started.Elapsed.TotalSeconds:F1} s; working set baseline {baseline / 1048576} MiB, " +
            $"peak {peak / 1048576} MiB, growth {(peak - baseline) / 1048576} MiB; bound {MaxConcurrentHashes} × {MemoryKiB / 1024} MiB + {MarginBytes / 1048576} MiB = {bound / 1048576} MiB");
        responses.Should().OnlyContain(response => response.StatusCode == HttpStatusCode.Unauthorized, "every login waited for a slot and was answered");
        (peak - baseline).Should().BeLessThan(bound);
    }
}
