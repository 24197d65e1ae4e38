using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace OAuthServer.Benchmarks;

/// <summary>
/// The physical limits of this machine, measured in the same run as the scenarios they divide: what the
/// server could reach if it did nothing but the one unavoidable piece of work.
/// </summary>
internal static class Ceilings
{
    /// <summary>
    /// A bare Kestrel endpoint hosted by this process that returns fixed bytes (the server's own discovery
    /// document, so both answers are the same size): HTTP itself, with no middleware and no work.
    /// </summary>
    public static async Task<WebApplication> StartStaticKestrelAsync(byte[] body)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        app.MapGet("/static", (HttpContext context) =>
        {
            context.Response.ContentType = "application/json;charset=UTF-8";
            context.Response.ContentLength = body.Length;
            return context.Response.Body.WriteAsync(body).AsTask();
        });
        await app.StartAsync();
        return app;
    }

    /// <summary>RS256 signatures of a JWT-sized input with a key of the server's size, one thread per core.</summary>
    public static ScenarioResult MeasureRs256(int keyBits, TimeSpan warmup, TimeSpan duration)
    {
        using var rsa = RSA.Create(keyBits);
        var input = Encoding.ASCII.GetBytes(new string('x', 700));
        // Note: the key is generated lazily, at its first use; that takes seconds for 3072 bits, outside the clock.
        rsa.SignData(input, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return RunOnThreads("rs256-sign", Environment.ProcessorCount, warmup, duration,
            () => rsa.SignData(input, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    /// <summary>
    /// Raw Argon2id hashes at the server's parameters, with the server's own implementation over the same pooled
    /// memory (one buffer per slot), MaxConcurrentHashes at a time: the most sign-ins the password check allows.
    /// </summary>
    public static ScenarioResult MeasureArgon2(int memoryKiB, int iterations, int parallelism, int concurrent, TimeSpan warmup, TimeSpan duration)
    {
        var password = Encoding.UTF8.GetBytes("correct horse battery staple");
        var cost = new OAuthServer.Accounts.Argon2Cost(memoryKiB, iterations, parallelism);
        var pool = new OAuthServer.Accounts.Argon2MemoryPool(concurrent);
        return RunOnThreads("argon2", concurrent, warmup, duration, () =>
        {
            var tag = new byte[32];
            using var lease = pool.Rent(cost);
            OAuthServer.Accounts.Argon2id.Hash(cost, password, RandomNumberGenerator.GetBytes(16), [], [], tag, lease.Memory);
            return tag;
        });
    }

    private static ScenarioResult RunOnThreads<T>(string name, int threads, TimeSpan warmup, TimeSpan duration, Func<T> work)
    {
        var latencies = new List<long>[threads];
        var measureFrom = Stopwatch.GetTimestamp() + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var measureTo = measureFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        Console.Error.WriteLine($"  [{name}] {threads} thread(s), {warmup.TotalSeconds:F0}s warm-up + {duration.TotalSeconds:F0}s");
        var workers = Enumerable.Range(0, threads).Select(index => new Thread(() =>
        {
            var mine = latencies[index] = new List<long>(1024);
            while (true)
            {
                var started = Stopwatch.GetTimestamp();
                if (started >= measureTo)
                {
                    return;
                }

                GC.KeepAlive(work());
                var ended = Stopwatch.GetTimestamp();
                if (started >= measureFrom && ended <= measureTo)
                {
                    mine.Add(ended - started);
                }
            }
        }) { IsBackground = true, Name = $"{name}-{index}" }).ToList();
        workers.ForEach(thread => thread.Start());
        workers.ForEach(thread => thread.Join());
        return LoadRunner.Summarise(name, latencies.SelectMany(list => list).ToArray(), 0, duration.TotalSeconds);
    }
}
