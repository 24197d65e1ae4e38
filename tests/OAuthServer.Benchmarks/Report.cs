using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace OAuthServer.Benchmarks;

/// <summary>
/// Prints every scenario as it finishes (a table row and one JSON line), and at the end the medians of the
/// rounds with the ratios to their ceilings and to the peer. Ratios are computed per round, from two results
/// measured one after the other (a ceiling and a scenario, or ours and the peer's), and the median of those is
/// quoted: on a shared machine only numbers taken side by side compare.
/// </summary>
internal sealed class Report(BenchmarkOptions options)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    private readonly List<(int Round, ScenarioResult Result)> _results = [];
    private readonly List<string> _notes = [];
    private readonly List<string> _jsonLines = [];
    private MemoryResult? _memory;

    private const string Rps = "rps";
    private const string P99 = "p99";

    // Operations per second of the server's own CPU time: what each side gets from a core, whatever the
    // number of cores it keeps busy (node runs JavaScript on one).
    private const string OpsPerCpuSecond = "ops/cpu-s";

    private static readonly CompositeFormat RatioFormat = CompositeFormat.Parse("{0,-20} {1,-48} {2,-34} {3,8} {4,8}  {5}");

    /// <summary>scenario, divisor (a ceiling, the peer, or the small table), what is compared, target (NaN: shown, not judged), higher is better.</summary>
    private static readonly (string Scenario, string Divisor, string Measure, double Target, bool AtLeast)[] Targets =
    [
        ("discovery", "kestrel-static", Rps, 0.8, true),
        ("jwks", "kestrel-static", Rps, 0.8, true),
        ("client_credentials", "rs256-sign", Rps, 0.25, true),
        ("refresh", "rs256-sign", Rps, 0.15, true),
        ("sign-in", "argon2", Rps, 0.8, true),
        ("refresh@large", "refresh@small", P99, 1.5, false),
        .. BenchmarkOptions.PeerScenarios.Select(name => (name, name + PeerUnderTest.Suffix, Rps, 1.0, true)),
        .. BenchmarkOptions.PeerScenarios.Select(name => (name, name + PeerUnderTest.Suffix, OpsPerCpuSecond, double.NaN, true)),
    ];

    public bool AllTargetsMet { get; private set; } = true;

    public void Header(ServerUnderTest server, PeerUnderTest? peer)
    {
        Line($"OAuthServer benchmark: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        Line($"server: Release, Production, Server GC, PostgreSQL ({server.DatabaseName}), pid {server.Pid}; " +
            $"workers {options.Workers}, warm-up {options.Warmup.TotalSeconds:F0}s, {options.Duration.TotalSeconds:F0}s per scenario, {options.Repeat} round(s)");
        Line($"Argon2id m={server.Argon2MemoryKiB} KiB t={server.Argon2Iterations} p={server.Argon2Parallelism}, MaxConcurrentHashes {server.MaxConcurrentHashes}; RS256 keys of {ServerUnderTest.KeyBits} bits");
        Line(ServerUnderTest.RateLimitNote);
        Line(peer is null
            ? "peer: none (--no-peer, or no scenario that runs on it)"
            : $"peer: oidc-provider {peer.Version} on node {peer.NodeVersion}, one process, NODE_ENV=production, in-memory adapter, pid {peer.Pid}; " +
                $"RS256 key of {peer.KeyBits} bits; {string.Join(", ", BenchmarkOptions.PeerScenarios)} run on it right after ours, as <name>{PeerUnderTest.Suffix}");
        Line(string.Empty);
        Line(Row("round", "scenario", "rps", "p50 ms", "p99 ms", "errors", "server CPU ms/op; note"));
    }

    public void Round(int round) => ServerUnderTest.Log($"round {round}/{options.Repeat}");

    public void Note(string note)
    {
        _notes.Add(note);
        ServerUnderTest.Log(note);
    }

    public void Add(int round, ScenarioResult result)
    {
        _results.Add((round, result));
        Line(Row(round.ToString(CultureInfo.InvariantCulture), result.Name, F(result.Rps, 1), F(result.P50Ms, 2), F(result.P99Ms, 2),
            result.Errors.ToString(CultureInfo.InvariantCulture), $"{(result.ServerCpuMsPerOp is { } cpu ? F(cpu, 2) : "-")} {result.Note}"));
        JsonLine(new Dictionary<string, object?>
        {
            ["scenario"] = result.Name, ["server"] = ServerOf(result.Name), ["round"] = round, ["rps"] = Round(result.Rps, 1), ["p50_ms"] = Round(result.P50Ms, 3),
            ["p99_ms"] = Round(result.P99Ms, 3), ["errors"] = result.Errors, ["operations"] = result.Operations,
            ["seconds"] = Round(result.Seconds, 2), ["server_cpu_ms_per_op"] = result.ServerCpuMsPerOp is { } cpuMs ? Round(cpuMs, 3) : null, ["workers"] = result.Name is "rs256-sign" or "argon2" ? null : options.Workers,
        });
    }

    public void Memory(MemoryResult memory)
    {
        _memory = memory;
        AllTargetsMet &= memory.Met;
        Line($"memory-flood: {memory.Logins} concurrent logins in {memory.Seconds:F1}s: {memory.Succeeded} signed in, {memory.Busy} answered 503 auth busy, {memory.Other} other; " +
            $"idle RSS {MiB(memory.IdleRss)}, peak RSS {MiB(memory.PeakRss)} ({memory.PeakSource}), bound {MiB(memory.Bound)} " +
            $"(idle + MaxConcurrentHashes x Argon2 memory + 64 MiB): {(memory.Met ? "met" : "NOT met")}");
        JsonLine(new Dictionary<string, object?>
        {
            ["scenario"] = "memory-flood", ["logins"] = memory.Logins, ["succeeded"] = memory.Succeeded, ["busy"] = memory.Busy, ["other"] = memory.Other,
            ["idle_rss_mib"] = Round(memory.IdleRss / 1048576.0, 1), ["peak_rss_mib"] = Round(memory.PeakRss / 1048576.0, 1),
            ["bound_mib"] = Round(memory.Bound / 1048576.0, 1), ["met"] = memory.Met,
        });
    }

    public void Finish(TimeSpan elapsed)
    {
        Line(string.Empty);
        Line($"Medians of {options.Repeat} round(s) (total run {elapsed.TotalMinutes:F1} min)");
        Line(Row(string.Empty, "scenario", "rps", "p50 ms", "p99 ms", "errors", "server CPU ms/op"));
        foreach (var name in _results.Select(item => item.Result.Name).Distinct())
        {
            var rounds = _results.Where(item => item.Result.Name == name).Select(item => item.Result).ToList();
            var errors = rounds.Sum(result => result.Errors);
            var cpuPerOp = Median(rounds.Where(r => r.ServerCpuMsPerOp is not null).Select(r => r.ServerCpuMsPerOp!.Value));
            Line(Row(string.Empty, name, F(Median(rounds.Select(r => r.Rps)), 1), F(Median(rounds.Select(r => r.P50Ms)), 2),
                F(Median(rounds.Select(r => r.P99Ms)), 2), errors.ToString(CultureInfo.InvariantCulture), F(cpuPerOp, 2)));
            JsonLine(new Dictionary<string, object?>
            {
                ["scenario"] = name, ["server"] = ServerOf(name), ["median_of"] = rounds.Count, ["rps"] = Round(Median(rounds.Select(r => r.Rps)), 1),
                ["p50_ms"] = Round(Median(rounds.Select(r => r.P50Ms)), 3), ["p99_ms"] = Round(Median(rounds.Select(r => r.P99Ms)), 3),
                ["errors"] = errors, ["server_cpu_ms_per_op"] = Round(cpuPerOp, 3),
            });
        }

        Line(string.Empty);
        Line(string.Format(CultureInfo.InvariantCulture, RatioFormat, "ratio", "of", "per round", "median", "target", "verdict"));
        foreach (var (scenario, divisor, measure, target, atLeast) in Targets)
        {
            var perRound = _results.Where(item => item.Result.Name == scenario).Select(item =>
            {
                // A ratio pairs a scenario with its divisor from the same round (the scale pair: the same round number).
                // A divisor without a positive value (no operation, no CPU reading) gives no ratio for that round.
                var other = _results.FirstOrDefault(other => other.Round == item.Round && other.Result.Name == divisor).Result;
                return other is not null && Value(other, measure) is > 0 and var by ? Value(item.Result, measure) / by : double.NaN;
            }).Where(double.IsFinite).ToList();
            if (perRound.Count == 0)
            {
                continue;
            }

            var median = Median(perRound);
            bool? met = double.IsNaN(target) ? null : atLeast ? median >= target : median <= target;
            AllTargetsMet &= met != false;
            Line(string.Format(CultureInfo.InvariantCulture, RatioFormat,
                scenario, $"{measure} / {divisor} {measure}", string.Join(" ", perRound.Select(value => F(value, 3))), F(median, 3),
                met is null ? "-" : (atLeast ? ">= " : "<= ") + F(target, 2), met switch { null => "shown", true => "met", false => "NOT met" }));
            JsonLine(new Dictionary<string, object?>
            {
                ["ratio"] = $"{scenario}/{divisor}", ["measure"] = measure, ["per_round"] = perRound.Select(value => Round(value, 4)).ToArray(),
                ["median"] = Round(median, 4), ["target"] = Round(target, 4), ["at_least"] = atLeast, ["met"] = met,
            });
        }

        if (_memory is { } memory)
        {
            Line(string.Format(CultureInfo.InvariantCulture, RatioFormat, "memory-flood", "peak RSS MiB",
                $"idle {MiB(memory.IdleRss)}", MiB(memory.PeakRss), "<= " + MiB(memory.Bound), memory.Met ? "met" : "NOT met"));
        }

        foreach (var note in _notes)
        {
            Line(note);
        }

        Line(ServerUnderTest.RateLimitNote);
        if (options.JsonOutput is { } path)
        {
            File.AppendAllLines(path, _jsonLines);
        }
    }

    // The value a ratio compares: NaN when the result has none (no latency, no CPU reading).
    private static double Value(ScenarioResult result, string measure) => measure switch
    {
        Rps => result.Rps,
        P99 => result.P99Ms,
        OpsPerCpuSecond => result.ServerCpuMsPerOp is > 0 and var cpu ? 1000 / cpu : double.NaN,
        _ => throw new ArgumentOutOfRangeException(nameof(measure), measure, "unknown measure"),
    };

    // "peer" for the peer's results, "ours" for our server's, null for the ceilings (measured in this process).
    private static string? ServerOf(string name) =>
        name.EndsWith(PeerUnderTest.Suffix, StringComparison.Ordinal) ? "peer" : name is "kestrel-static" or "rs256-sign" or "argon2" ? null : "ours";

    // JSON has no NaN: a scenario without a successful operation has no latency.
    private static double? Round(double value, int digits) => double.IsNaN(value) || double.IsInfinity(value) ? null : Math.Round(value, digits);

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(value => !double.IsNaN(value)).Order().ToArray();
        return sorted.Length == 0 ? double.NaN
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Row(string round, string name, string rps, string p50, string p99, string errors, string note) =>
        string.Format(CultureInfo.InvariantCulture, "{0,5}  {1,-24} {2,10} {3,9} {4,9} {5,7}  {6}", round, name, rps, p50, p99, errors, note);

    private static string F(double value, int digits) => double.IsNaN(value) ? "-" : value.ToString("F" + digits, CultureInfo.InvariantCulture);

    private static string MiB(long bytes) => (bytes / 1048576.0).ToString("F0", CultureInfo.InvariantCulture) + " MiB";

    private void JsonLine(Dictionary<string, object?> values)
    {
        var line = JsonSerializer.Serialize(values, Json);
        _jsonLines.Add(line);
        Line(line);
    }

    private static void Line(string text) => Console.Out.WriteLine(text);
}
