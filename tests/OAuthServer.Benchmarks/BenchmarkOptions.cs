using System.Globalization;

namespace OAuthServer.Benchmarks;

/// <summary>The command line: <c>--workers 32 --duration 10 --warmup 3 --only discovery,jwks ...</c>.</summary>
internal sealed class BenchmarkOptions
{
    public int Workers { get; private set; } = 32;

    public TimeSpan Duration { get; private set; } = TimeSpan.FromSeconds(10);

    public TimeSpan Warmup { get; private set; } = TimeSpan.FromSeconds(3);

    /// <summary>Unmeasured load on each token scenario before round 1, for the JIT to reach steady state.</summary>
    public TimeSpan ServerWarmup { get; private set; } = TimeSpan.FromSeconds(30);

    /// <summary>Npgsql connection string of a database the tool may own (it is emptied and migrated).</summary>
    public string? Postgres { get; private set; } = Environment.GetEnvironmentVariable("OAUTH_BENCH_POSTGRES");

    /// <summary>The Release build of the server; by default the one next to this tool in the repository.</summary>
    public string? ServerDll { get; private set; }

    /// <summary>Argon2 slots, given to the server as Argon2:MaxConcurrentHashes and used by the argon2 ceiling.</summary>
    public int MaxConcurrentHashes { get; private set; } = Environment.ProcessorCount;

    /// <summary>Rounds of every ceiling and scenario; the summary quotes the median of the rounds.</summary>
    public int Repeat { get; private set; } = 3;

    public int FloodLogins { get; private set; } = 200;

    public int ScaleSmall { get; private set; } = 10_000;

    public int ScaleLarge { get; private set; } = 1_000_000;

    /// <summary>Scenario names to run (empty: all).</summary>
    public HashSet<string> Only { get; } = new(StringComparer.OrdinalIgnoreCase);

    public string? JsonOutput { get; private set; }

    /// <summary>Leave out the peer (oidc-provider): only ours and the ceilings run, and no node is needed.</summary>
    public bool NoPeer { get; private set; }

    /// <summary>The folder with peer.mjs and its installed node_modules; by default the one next to this tool.</summary>
    public string? PeerDirectory { get; private set; }

    /// <summary>The peer's RSA signing key size (oidc-provider's usual 2048; ours is <see cref="ServerUnderTest.KeyBits"/>).</summary>
    public int PeerKeyBits { get; private set; } = 2048;

    /// <summary>The scenarios that run on the peer too, each right after ours in every round.</summary>
    public static IReadOnlyList<string> PeerScenarios { get; } = ["discovery", "jwks", "client_credentials", "refresh"];

    public static BenchmarkOptions Parse(string[] args)
    {
        var options = new BenchmarkOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int NextInt() => int.Parse(Next(), NumberStyles.None, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--workers": options.Workers = NextInt(); break;
                case "--duration": options.Duration = TimeSpan.FromSeconds(NextInt()); break;
                case "--warmup": options.Warmup = TimeSpan.FromSeconds(NextInt()); break;
                case "--server-warmup": options.ServerWarmup = TimeSpan.FromSeconds(NextInt()); break;
                case "--postgres": options.Postgres = Next(); break;
                case "--server-dll": options.ServerDll = Next(); break;
                case "--max-concurrent-hashes": options.MaxConcurrentHashes = NextInt(); break;
                case "--repeat": options.Repeat = NextInt(); break;
                case "--flood-logins": options.FloodLogins = NextInt(); break;
                case "--scale-small": options.ScaleSmall = NextInt(); break;
                case "--scale-large": options.ScaleLarge = NextInt(); break;
                case "--json-output": options.JsonOutput = Next(); break;
                case "--no-peer": options.NoPeer = true; break;
                case "--peer-dir": options.PeerDirectory = Next(); break;
                case "--peer-key-bits": options.PeerKeyBits = NextInt(); break;
                case "--only":
                    foreach (var name in Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        options.Only.Add(name);
                    }

                    break;
                case "-h" or "--help":
                    throw new ArgumentException(Usage);
                default:
                    throw new ArgumentException($"unknown option {args[i]}\n{Usage}");
            }
        }

        if (options.Workers < 1 || options.Duration <= TimeSpan.Zero || options.MaxConcurrentHashes < 1 || options.Repeat < 1)
        {
            throw new ArgumentException("--workers, --duration and --max-concurrent-hashes and --repeat must be positive");
        }

        if (options.PeerKeyBits is < 2048 or > 8192)
        {
            throw new ArgumentException("--peer-key-bits must be between 2048 and 8192");
        }

        if (string.IsNullOrWhiteSpace(options.Postgres))
        {
            throw new ArgumentException("no PostgreSQL: pass --postgres or set OAUTH_BENCH_POSTGRES (ops/bench.sh does)");
        }

        return options;
    }

    public bool Runs(string scenario) => Only.Count == 0 || Only.Contains(scenario);

    /// <summary>Whether the peer is started: it is not left out and one of its scenarios runs.</summary>
    public bool RunsPeer => !NoPeer && PeerScenarios.Any(Runs);

    public const string Usage = """
        usage: OAuthServer.Benchmarks [--workers 32] [--duration 10] [--warmup 3] [--server-warmup 30] [--postgres CONNSTR]
               [--repeat 3] [--server-dll PATH] [--max-concurrent-hashes N] [--flood-logins 200]
               [--scale-small 10000] [--scale-large 1000000] [--only name,name] [--json-output FILE]
               [--no-peer] [--peer-dir PATH] [--peer-key-bits 2048]
        scenarios: memory-flood kestrel-static discovery jwks rs256-sign client_credentials refresh
                   scale argon2 sign-in
        discovery, jwks, client_credentials and refresh also run on the peer (oidc-provider, needs node),
        right after ours in each round, as <name>@peer, unless --no-peer
        """;
}
