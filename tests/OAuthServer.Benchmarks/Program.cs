using System.Diagnostics;
using System.Globalization;
using System.Net;
using OAuthServer.Benchmarks;

BenchmarkOptions options;
try
{
    options = BenchmarkOptions.Parse(args);
}
catch (ArgumentException exception)
{
    await Console.Error.WriteLineAsync(exception.Message);
    return 2;
}

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var report = new Report(options);
var users = Math.Max(options.Workers, options.FloodLogins) + 1;
await using var server = await ServerUnderTest.CreateAsync(options, users);
await server.StartAsync();
report.Header(server);

try
{
    using var http = ProtocolClient.CreateHttpClient(server.BaseAddress, Math.Max(options.Workers, options.FloodLogins));
    var client = new ProtocolClient(http, server.ServiceSecret);
    var clock = Stopwatch.StartNew();

    // Note: one sign-in first, so the first measured numbers are not the server's JIT and connection warm-up.
    if (await client.SignInAsync(ServerUnderTest.UserEmail(0), cancel.Token) is null)
    {
        throw new InvalidOperationException($"the warm-up sign-in failed; server output:\n{server.LastServerLines()}");
    }

    if (options.Runs("memory-flood"))
    {
        report.Memory(await MemoryFlood.RunAsync(server, client, options));
    }

    var refreshChains = new string?[options.Workers];
    async Task<bool> RefreshAsync(int worker, CancellationToken token)
    {
        // A chain that broke (an error) starts again with a new sign-in, outside the measurement of that operation.
        refreshChains[worker] ??= await client.SignInAsync(ServerUnderTest.UserEmail(worker + 1), token);
        var next = refreshChains[worker] is { } current ? await client.RefreshAsync(current, token) : null;
        refreshChains[worker] = next;
        return next is not null;
    }

    async Task EstablishRefreshChainsAsync()
    {
        // Each worker's chain starts with a real sign-in (Argon2), before and outside any measured window.
        var missing = Enumerable.Range(0, options.Workers).Where(worker => refreshChains[worker] is null).ToList();
        if (missing.Count > 0)
        {
            ServerUnderTest.Log($"signing in {missing.Count} refresh chain(s)");
            await Parallel.ForEachAsync(missing, new ParallelOptions { MaxDegreeOfParallelism = server.MaxConcurrentHashes * 2 }, async (worker, token) =>
                refreshChains[worker] = await client.SignInAsync(ServerUnderTest.UserEmail(worker + 1), token));
        }
    }

    var discovery = await client.GetBytesAsync("/.well-known/openid-configuration", cancel.Token);
    await using var staticKestrel = await Ceilings.StartStaticKestrelAsync(discovery);
    using var staticHttp = ProtocolClient.CreateHttpClient(new Uri(staticKestrel.Urls.First()), options.Workers);
    var staticClient = new ProtocolClient(staticHttp, string.Empty);

    Task<ScenarioResult> Load(string name, LoadRunner.Operation operation) =>
        LoadRunner.RunAsync(name, options.Workers, options.Warmup, options.Duration, operation, name == "kestrel-static" ? null : server.CpuTime);

    for (var round = 1; round <= options.Repeat; round++)
    {
        report.Round(round);
        // Each ceiling is measured right before the scenarios that are divided by it, so both see the same machine.
        if (options.Runs("kestrel-static") || options.Runs("discovery") || options.Runs("jwks"))
        {
            report.Add(round, await Load("kestrel-static", (_, token) => staticClient.GetOkAsync("/static", token)));
        }

        if (options.Runs("discovery"))
        {
            report.Add(round, await Load("discovery", (_, token) => client.GetOkAsync("/.well-known/openid-configuration", token)));
        }

        if (options.Runs("jwks"))
        {
            report.Add(round, await Load("jwks", (_, token) => client.GetOkAsync("/.well-known/jwks.json", token)));
        }

        if (options.Runs("rs256-sign") || options.Runs("client_credentials") || options.Runs("refresh"))
        {
            report.Add(round, Ceilings.MeasureRs256(ServerUnderTest.KeyBits, options.Warmup, options.Duration));
        }

        if (options.Runs("client_credentials"))
        {
            report.Add(round, await Load("client_credentials", (_, token) => client.ClientCredentialsAsync(token)));
        }

        if (options.Runs("refresh"))
        {
            await EstablishRefreshChainsAsync();
            report.Add(round, await Load("refresh", RefreshAsync));
        }

        if (options.Runs("argon2") || options.Runs("sign-in"))
        {
            report.Add(round, Ceilings.MeasureArgon2(server.Argon2MemoryKiB, server.Argon2Iterations, server.Argon2Parallelism,
                server.MaxConcurrentHashes, options.Warmup, options.Duration));
        }

        if (options.Runs("sign-in"))
        {
            report.Add(round, await Load("sign-in", async (worker, token) =>
                await client.SignInAsync(ServerUnderTest.UserEmail(worker + 1), token) is not null));
        }
    }

    if (options.Runs("scale"))
    {
        // Note: the same refresh load at two table sizes; only the stored-token count differs between them.
        foreach (var (name, rows) in new[] { ("refresh@small", options.ScaleSmall), ("refresh@large", options.ScaleLarge) })
        {
            var count = await TokenSeeder.FillToAsync(server.ConnectionString, rows);
            report.Note($"{name}: OpenIddictTokens holds {count:N0} rows before the run");
            for (var round = 1; round <= options.Repeat; round++)
            {
                await EstablishRefreshChainsAsync();
                report.Add(round, await Load(name, RefreshAsync) with { Note = $"{count:N0} stored tokens" });
            }
        }
    }

    foreach (var (reason, count) in client.Failures.Concat(LoadRunner.Exceptions).OrderByDescending(pair => pair.Value))
    {
        report.Note($"failed operations: {count} x {reason}");
    }

    report.Finish(clock.Elapsed);
    return report.AllTargetsMet ? 0 : 1;
}
catch (HttpRequestException exception)
{
    // The server stopped answering: show why, from its own last lines.
    await Console.Error.WriteLineAsync($"error: {exception.Message}; the server's last output:\n{server.LastServerLines()}");
    return 1;
}
