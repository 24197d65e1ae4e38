using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace OAuthServer.Benchmarks;

/// <summary>
/// The server as it runs in production: the Release build in a process of its own, Production environment,
/// Server GC, PostgreSQL, a key folder made by its own <c>keys new</c> verb, TLS terminated by a proxy (this
/// tool, named in Server:KnownProxies, sends X-Forwarded-Proto: https), and Information logging as shipped.
/// Only the rate limits are raised, so that they never throttle the load (the run says so).
/// </summary>
internal sealed class ServerUnderTest : IAsyncDisposable
{
    public const string Issuer = "https://login.bench.test/";
    public const string PublicClientId = "bench-spa";
    public const string RedirectUri = "http://127.0.0.1:9/callback";
    public const string ServiceClientId = "bench-service";
    public const string Password = "Tundra-Violet-Orchard-47";
    public const int KeyBits = 2048; // KeyRing.RsaKeySize: what `keys new` writes.

    // Note: raised far above anything the benchmark can send, so they never refuse a request; the limiter itself
    // still runs on every request (in memory: no Redis), so its cost is part of what is measured.
    public const int RateLimitPermits = 1_000_000_000;

    private static readonly string[] RateLimitPolicies =
        ["LoginPerIp", "LoginPerAccount", "TokenPerIp", "TokenPerClient", "AuthorizePerIp", "ClientAuthFailures", "ClientAuthFailuresPerClient"];

    private readonly string _folder;
    private readonly string _serverDll;
    private readonly string _adminConnectionString;
    private readonly Dictionary<string, string> _environment;
    private readonly OutputTail _lastLines = new();
    private Process? _process;

    private ServerUnderTest(string serverDll, string adminConnectionString, string databaseName, int maxConcurrentHashes)
    {
        _serverDll = serverDll;
        _adminConnectionString = adminConnectionString;
        DatabaseName = databaseName;
        _folder = Directory.CreateTempSubdirectory("oauth-bench-").FullName;
        Port = FreePort();
        ConnectionString = new NpgsqlConnectionStringBuilder(adminConnectionString) { Database = databaseName, MaxPoolSize = 200 }.ConnectionString;
        ServiceSecret = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        MaxConcurrentHashes = maxConcurrentHashes;
        _environment = new()
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["DOTNET_gcServer"] = "1",
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{Port}",
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__OAuthServer"] = ConnectionString,
            ["Server__Issuer"] = Issuer,
            ["Server__KnownProxies__0"] = "127.0.0.1",
            ["Keys__Path"] = Path.Combine(_folder, "keys"),
            // The Data Protection certificate, made on this first start in the benchmark's own key folder.
            ["DataProtection__CreateCertificateIfMissing"] = "true",
            ["Argon2__MaxConcurrentHashes"] = maxConcurrentHashes.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var policy in RateLimitPolicies)
        {
            _environment[$"RateLimiting__{policy}__PermitLimit"] = RateLimitPermits.ToString(CultureInfo.InvariantCulture);
        }
    }

    public int Port { get; }

    public string DatabaseName { get; }

    public string ConnectionString { get; }

    public string ServiceSecret { get; }

    public int MaxConcurrentHashes { get; }

    // The server's shipped Argon2 parameters (appsettings.json); the argon2 ceiling uses the same ones.
    public int Argon2MemoryKiB { get; } = 19456;

    public int Argon2Iterations { get; } = 2;

    public int Argon2Parallelism { get; } = 1;

    public int Pid => _process?.Id ?? 0;

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public static string RateLimitNote =>
        $"RateLimiting: every policy's PermitLimit set to {RateLimitPermits:N0} per window (in memory, no Redis), so the limiter runs on every request but never refuses one";

    public static async Task<ServerUnderTest> CreateAsync(BenchmarkOptions options, int users)
    {
        var serverDll = options.ServerDll ?? FindServerDll();
        var database = $"oauth_bench_{DateTime.UtcNow:yyyyMMddHHmmss}_{Environment.ProcessId}";
        var server = new ServerUnderTest(serverDll, options.Postgres!, database, options.MaxConcurrentHashes);
        await server.PrepareAsync(users);
        return server;
    }

    private static string FindServerDll()
    {
        // tests/OAuthServer.Benchmarks/bin/Release/net10.0/ -> src/OAuthServer/bin/Release/net10.0/OAuthServer.dll
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "src", "OAuthServer", "bin", "Release", "net10.0", "OAuthServer.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("OAuthServer.dll (Release) not found: `dotnet build -c Release` first, or pass --server-dll");
    }

    private async Task PrepareAsync(int users)
    {
        Log($"database {DatabaseName}, key folder {_folder}/keys, server {_serverDll}");
        await using (var admin = new NpgsqlConnection(_adminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{DatabaseName}\"", admin);
            await create.ExecuteNonQueryAsync();
        }

        // Note: migrate first: key changes are audited, and the audit log lives in the database.
        await CliAsync(["migrate"]);
        await CliAsync(["keys", "new"]);
        await CliAsync(["keys", "new", "--use", "encryption"]);
        await CliAsync(["users", "add", "--email", "bench-0@example.com", "--password-stdin"], Password);
        await CliAsync(["clients", "add", "--client-id", PublicClientId, "--type", "public", "--redirect-uri", RedirectUri,
            "--scope", "openid", "--scope", "offline_access", "--scope", "api", "--consent", "implicit"]);
        await CliAsync(["clients", "add", "--client-id", ServiceClientId, "--type", "confidential", "--client-credentials",
            "--scope", "api", "--secret-stdin"], ServiceSecret);

        // Note: one account per worker, as in real traffic (and no row contention on one user). The other accounts
        // copy the first one's Argon2 hash, made by the server itself, so they check exactly the same way.
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var clone = new NpgsqlCommand("""
            INSERT INTO users ("Id", "Email", "NormalizedEmail", "PasswordHash", "Status", "LockedUntil", "FailedLoginCount",
                               "LockoutCount", "SecurityStamp", "CreatedAt", "UpdatedAt")
            SELECT gen_random_uuid(), 'bench-' || i || '@example.com', 'bench-' || i || '@example.com', u."PasswordHash", u."Status",
                   NULL, 0, 0, md5(random()::text), now(), now()
            FROM users u, generate_series(1, @count) AS i
            WHERE u."NormalizedEmail" = 'bench-0@example.com'
            """, connection);
        clone.Parameters.AddWithValue("count", users - 1);
        await clone.ExecuteNonQueryAsync();
    }

    public static string UserEmail(int index) => $"bench-{index}@example.com";

    public async Task StartAsync()
    {
        var start = StartInfo([]);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, line) => _lastLines.Add(line.Data);
        _process.ErrorDataReceived += (_, line) => _lastLines.Add(line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(90))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the server exited with {_process.ExitCode}:\n{_lastLines}");
            }

            try
            {
                using var response = await client.GetAsync("health/ready");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Log($"server ready on {BaseAddress} (pid {_process.Id}) after {deadline.Elapsed.TotalSeconds:F1}s");
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(200);
        }

        throw new InvalidOperationException($"the server was not ready within 90s:\n{_lastLines}");
    }

    /// <summary>Resident memory now and its high-water mark since the last <see cref="ResetPeakRss"/>, in bytes.</summary>
    public (long Rss, long Peak) ReadRss()
    {
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = ParseKiB(line) * 1024;
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = ParseKiB(line) * 1024;
            }
        }

        return (rss, peak);
    }

    /// <summary>CPU time the server process has used (<see cref="ProcessCpu"/>).</summary>
    public TimeSpan CpuTime() => ProcessCpu.Of(Pid);

    /// <summary>Resets VmHWM to the current RSS (Linux: writing 5 to clear_refs). False if not permitted.</summary>
    public bool ResetPeakRss()
    {
        try
        {
            File.WriteAllText($"/proc/{Pid}/clear_refs", "5");
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long ParseKiB(string line) =>
        long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    private async Task CliAsync(string[] args, string? stdin = null)
    {
        using var process = Process.Start(StartInfo(args))!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"`OAuthServer {string.Join(' ', args)}` failed ({process.ExitCode}): {await error}{await output}");
        }

        Log($"OAuthServer {args[0]} {(args.Length > 1 ? args[1] : string.Empty)}: ok");
    }

    private ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(_serverDll)!,
        };
        start.ArgumentList.Add(_serverDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in _environment)
        {
            start.Environment[key] = value;
        }

        return start;
    }

    public string LastServerLines() => _lastLines.ToString();

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static void Log(string message) => Console.Error.WriteLine($"==> {message}");

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        try
        {
            await using var admin = new NpgsqlConnection(_adminConnectionString);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{DatabaseName}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException exception)
        {
            Log($"could not drop {DatabaseName}: {exception.Message}");
        }

        Directory.Delete(_folder, recursive: true);
    }
}
