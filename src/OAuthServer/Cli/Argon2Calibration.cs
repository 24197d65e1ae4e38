using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Options;
using OAuthServer.Accounts;

namespace OAuthServer.Cli;

/// <summary>
/// <c>argon2 calibrate --target-ms 250 [--max-memory-mib N]</c>: finds the strongest Argon2id parameters that
/// hash in about the target time on this machine. Memory first (it is what makes GPU and ASIC attacks
/// expensive), then iterations; never below OWASP's minimum of 19 MiB and t=2. It times the server's own Argon2id
/// path (<see cref="Argon2PasswordHasher.Measure"/>) with its memory reused between hashes, as the server reuses
/// a buffer per limiter slot, so the advice follows what a login really costs.
/// </summary>
internal static class Argon2Calibration
{
    public static Command Command(IServiceProvider services, TextWriter output, TextWriter error)
    {
        var target = new Option<int>("--target-ms") { Description = "The time one hash may take, in milliseconds.", DefaultValueFactory = _ => 250 };
        var maxMemory = new Option<int>("--max-memory-mib") { Description = "The most memory one hash may use, in MiB.", DefaultValueFactory = _ => 256 };
        var calibrate = new Command("calibrate", "Measure this machine and print Argon2 parameters for a target time.") { target, maxMemory };
        calibrate.SetAction(async (parse, cancellationToken) =>
        {
            var targetMs = parse.GetValue(target);
            var maxMiB = parse.GetValue(maxMemory);
            if (targetMs is < 10 or > 10_000 || maxMiB is < 19 or > 4096)
            {
                await error.WriteLineAsync("error: --target-ms must be 10..10000 and --max-memory-mib 19..4096.");
                return 1;
            }

            var parallelism = services.GetRequiredService<IOptions<Argon2Options>>().Value.Parallelism;
            var result = await Task.Run(() => Calibrate(TimeSpan.FromMilliseconds(targetMs), maxMiB * 1024, parallelism, output), cancellationToken);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"Argon2__MemoryKiB={result.MemoryKiB} Argon2__Iterations={result.Iterations} Argon2__Parallelism={parallelism}   # {result.Elapsed.TotalMilliseconds:F0} ms per hash on this machine"));
            if (result.Elapsed > TimeSpan.FromMilliseconds(targetMs) * 1.5)
            {
                await output.WriteLineAsync("note: even the minimum parameters exceed the target on this machine; they are printed anyway, as nothing weaker is allowed.");
            }

            return 0;
        });

        return new Command("argon2", "Password-hashing tools.") { calibrate };
    }

    private static (int MemoryKiB, int Iterations, TimeSpan Elapsed) Calibrate(TimeSpan target, int maxMemoryKiB, int parallelism, TextWriter output)
    {
        // One buffer, grown as the memory doubles; each median drops the sample that paid for growing it.
        var memoryPool = new Argon2MemoryPool(1);
        // Memory: double from the minimum while a t=2 hash stays under the target.
        var memory = Argon2Options.MinimumMemoryKiB;
        var elapsed = Median(memoryPool, new(memory, 2, parallelism), output);
        while (memory * 2 <= maxMemoryKiB)
        {
            var next = Median(memoryPool, new(memory * 2, 2, parallelism), output);
            if (next > target)
            {
                break;
            }

            memory *= 2;
            elapsed = next;
        }

        // Iterations: add passes while the hash stays under the target.
        var iterations = 2;
        while (iterations < 64)
        {
            var next = Median(memoryPool, new(memory, iterations + 1, parallelism), output);
            if (next > target)
            {
                break;
            }

            iterations++;
            elapsed = next;
        }

        return (memory, iterations, elapsed);
    }

    private static TimeSpan Median(Argon2MemoryPool memoryPool, Argon2Cost cost, TextWriter output)
    {
        var samples = Enumerable.Range(0, 3).Select(_ => Argon2PasswordHasher.Measure(memoryPool, cost)).Order().ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  m={cost.MemoryKiB / 1024} MiB t={cost.Iterations} p={cost.Parallelism}: {samples[1].TotalMilliseconds:F0} ms"));
        return samples[1];
    }
}
