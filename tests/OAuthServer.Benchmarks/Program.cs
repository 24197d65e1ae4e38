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
await using var peer = options.RunsPeer ? await PeerUnderTest.StartAsync(options) : null;
report.Header(server, peer);

try
{
    using var http = ProtocolClient.CreateHttpClient(server.BaseAddress, Math.Max(options.Workers, options.FloodLogins));
    var client = new ProtocolClient(http, server.ServiceSecret);
    using var peerHttp = peer is null ? null : ProtocolClient.CreateHttpClient(peer.BaseAddress, options.Workers);
    var peerClient = peer is null ? null : new ProtocolClient(peerHttp!, peer.ServiceSecret);
    var clock = Stopwatch.StartNew();

    // Note: one sign-in first, so the first measured numbers are not the server's JIT and connection warm-up.
    var warmUp = await client.SignInAsync(ServerUnderTest.UserEmail(0), cancel.Token)
        ?? throw new InvalidOperationException($"the warm-up sign-in failed; server output:\n{server.LastServerLines()}");
    if (peerClient is not null)
    {
        // The same work on both sides, checked once on each side's warm-up chain (which the replay then ends).
        var peerWarmUp = await peerClient.HintedSignInAsync(ServerUnderTest.UserEmail(0), cancel.Token)
            ?? throw new InvalidOperationException($"the peer's warm-up sign-in failed; peer output:\n{peer!.LastLines()}");
        report.Note(await TokenCheck.DescribeAsync("ours", client, warmUp, cancel.Token));
        report.Note(await TokenCheck.DescribeAsync("peer", peerClient, peerWarmUp, cancel.Token));
    }

    if (options.Runs("memory-flood"))
    {
        report.Memory(await MemoryFlood.RunAsync(server, client, options));
    }

    // Each worker's chain starts with a real sign-in (ours: Argon2), before and outside any measured window.
    var chains = new RefreshChains("ours", options.Workers, client.SignInAsync, client);
    var peerChains = peerClient is null ? null : new RefreshChains("the peer", options.Workers, peerClient.HintedSignInAsync, peerClient);

    var discovery = await client.GetBytesAsync("/.well-known/openid-configuration", cancel.Token);
    await using var staticKestrel = await Ceilings.StartStaticKestrelAsync(discovery);
    using var staticHttp = ProtocolClient.CreateHttpClient(new Uri(staticKestrel.Urls.First()), options.Workers);
    var staticClient = new ProtocolClient(staticHttp, string.Empty);

    Task<ScenarioResult> Load(string name, LoadRunner.Operation operation, Func<TimeSpan>? serverCpu) =>
        LoadRunner.RunAsync(name, options.Workers, options.Warmup, options.Duration, operation, serverCpu);

    // Ours, then the peer with the same operation, back to back: noise on the shared machine hits both.
    async Task PairAsync(int round, string name, LoadRunner.Operation ours, LoadRunner.Operation? theirs)
    {
        report.Add(round, await Load(name, ours, server.CpuTime));
        if (peer is not null && theirs is not null)
        {
            report.Add(round, await Load(name + PeerUnderTest.Suffix, theirs, peer.CpuTime));
        }
    }

    static LoadRunner.Operation Get(ProtocolClient target, string path) => (_, token) => target.GetOkAsync(path, token);

    // Note: a JIT-compiled server (and the peer's V8) keeps tiering up its hot code for tens of seconds; a server in
    // production has run for days. Each token scenario first runs unmeasured on both servers, so round 1 measures
    // steady-state code like the later rounds (without it, round 1's refresh ran at half the rate of rounds 2 and 3).
    if (options.ServerWarmup > TimeSpan.Zero)
    {
        async Task WarmAsync(string name, LoadRunner.Operation ours, LoadRunner.Operation? theirs)
        {
            await LoadRunner.RunAsync(name + " (unmeasured warm-up)", options.Workers, TimeSpan.Zero, options.ServerWarmup, ours, null);
            if (peer is not null && theirs is not null)
            {
                await LoadRunner.RunAsync(name + PeerUnderTest.Suffix + " (unmeasured warm-up)", options.Workers, TimeSpan.Zero, options.ServerWarmup, theirs, null);
            }
        }

        if (options.Runs("client_credentials"))
        {
            await WarmAsync("client_credentials", (_, token) => client.ClientCredentialsAsync(token),
                peerClient is null ? null : (_, token) => peerClient.ClientCredentialsAsync(token));
        }

        if (options.Runs("refresh") || options.Runs("scale"))
        {
            await WarmAsync("refresh", chains.RefreshAsync, peerChains is null ? null : peerChains.RefreshAsync);
        }
    }

    for (var round = 1; round <= options.Repeat; round++)
    {
        report.Round(round);
        // Each ceiling is measured right before the scenarios that are divided by it, so both see the same machine.
        if (options.Runs("kestrel-static") || options.Runs("discovery") || options.Runs("jwks"))
        {
            report.Add(round, await Load("kestrel-static", (_, token) => staticClient.GetOkAsync("/static", token), null));
        }

        if (options.Runs("discovery"))
        {
            const string path = "/.well-known/openid-configuration";
            await PairAsync(round, "discovery", Get(client, path), peerClient is null ? null : Get(peerClient, path));
        }

        if (options.Runs("jwks"))
        {
            const string path = "/.well-known/jwks.json";
            await PairAsync(round, "jwks", Get(client, path), peerClient is null ? null : Get(peerClient, path));
        }

        if (options.Runs("rs256-sign") || options.Runs("client_credentials") || options.Runs("refresh"))
        {
            report.Add(round, Ceilings.MeasureRs256(ServerUnderTest.KeyBits, options.Warmup, options.Duration));
        }

        if (options.Runs("client_credentials"))
        {
            await PairAsync(round, "client_credentials", (_, token) => client.ClientCredentialsAsync(token),
                peerClient is null ? null : (_, token) => peerClient.ClientCredentialsAsync(token));
        }

        if (options.Runs("refresh"))
        {
            await chains.EstablishAsync(server.MaxConcurrentHashes * 2);
            if (peerChains is not null)
            {
                await peerChains.EstablishAsync(options.Workers);
            }

            await PairAsync(round, "refresh", chains.RefreshAsync, peerChains is null ? null : peerChains.RefreshAsync);
        }

        if (options.Runs("argon2") || options.Runs("sign-in"))
        {
            report.Add(round, Ceilings.MeasureArgon2(server.Argon2MemoryKiB, server.Argon2Iterations, server.Argon2Parallelism,
                server.MaxConcurrentHashes, options.Warmup, options.Duration));
        }

        if (options.Runs("sign-in"))
        {
            report.Add(round, await Load("sign-in", async (worker, token) =>
                await client.SignInAsync(ServerUnderTest.UserEmail(worker + 1), token) is not null, server.CpuTime));
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
                await chains.EstablishAsync(server.MaxConcurrentHashes * 2);
                report.Add(round, await Load(name, chains.RefreshAsync, server.CpuTime) with { Note = $"{count:N0} stored tokens" });
            }
        }
    }

    var failures = client.Failures.Concat(LoadRunner.Exceptions)
        .Concat(peerClient?.Failures.Select(pair => KeyValuePair.Create("peer " + pair.Key, pair.Value)) ?? []);
    foreach (var (reason, count) in failures.OrderByDescending(pair => pair.Value))
    {
        report.Note($"failed operations: {count} x {reason}");
    }

    report.Finish(clock.Elapsed);
    return report.AllTargetsMet ? 0 : 1;
}
catch (HttpRequestException exception)
{
    // A server stopped answering: show why, from its own last lines.
    await Console.Error.WriteLineAsync($"error: {exception.Message}; the server's last output:\n{server.LastServerLines()}" +
        (peer is null ? string.Empty : $"\nthe peer's last output:\n{peer.LastLines()}"));
    return 1;
}
