using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;

namespace OAuthServer.Benchmarks;

/// <summary>
/// The peer: panva's oidc-provider (peer/peer.mjs, installed by <c>npm ci</c> from peer/package-lock.json) in a
/// node process of its own on a free loopback port, NODE_ENV=production, its default in-memory adapter, one
/// RSA key made at its start. Like ours its issuer is https and TLS ends at a proxy: koa trusts
/// X-Forwarded-Proto (provider.proxy), which the tool sends on every request. It serves the same paths and
/// client ids as ours, so one <see cref="ProtocolClient"/> drives both.
/// </summary>
internal sealed class PeerUnderTest : IAsyncDisposable
{
    public const string Issuer = "https://peer.bench.test/";
    public const string Resource = "https://api.bench.test/";
    public const string Suffix = "@peer";

    private readonly string _directory;
    private readonly OutputTail _lastLines = new();
    private Process? _process;

    private PeerUnderTest(string directory, int keyBits)
    {
        _directory = directory;
        KeyBits = keyBits;
        Port = ServerUnderTest.FreePort();
        ServiceSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        using var package = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory, "node_modules", "oidc-provider", "package.json")));
        Version = package.RootElement.GetProperty("version").GetString()!;
    }

    public int Port { get; }

    public int KeyBits { get; }

    public string ServiceSecret { get; }

    /// <summary>The installed oidc-provider's version (from its package.json).</summary>
    public string Version { get; }

    /// <summary>node's own version line, read at start.</summary>
    public string NodeVersion { get; private set; } = "?";

    public int Pid => _process?.Id ?? 0;

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public static async Task<PeerUnderTest> StartAsync(BenchmarkOptions options)
    {
        var directory = options.PeerDirectory ?? FindPeerDirectory();
        if (!File.Exists(Path.Combine(directory, "node_modules", "oidc-provider", "package.json")))
        {
            throw new InvalidOperationException($"oidc-provider is not installed in {directory}: run `npm ci` there (ops/bench.sh does), or pass --no-peer");
        }

        var peer = new PeerUnderTest(directory, options.PeerKeyBits);
        await peer.StartProcessAsync();
        return peer;
    }

    private static string FindPeerDirectory()
    {
        // tests/OAuthServer.Benchmarks/bin/Release/net10.0/ -> tests/OAuthServer.Benchmarks/peer/
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "peer");
            if (File.Exists(Path.Combine(candidate, "peer.mjs")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("tests/OAuthServer.Benchmarks/peer/peer.mjs not found: pass --peer-dir, or --no-peer");
    }

    private async Task StartProcessAsync()
    {
        NodeVersion = await NodeVersionAsync();
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory,
        };
        start.ArgumentList.Add("peer.mjs");
        start.Environment["NODE_ENV"] = "production";
        start.Environment["PEER_PORT"] = Port.ToString(CultureInfo.InvariantCulture);
        start.Environment["PEER_ISSUER"] = Issuer;
        start.Environment["PEER_RESOURCE"] = Resource;
        start.Environment["PEER_KEY_BITS"] = KeyBits.ToString(CultureInfo.InvariantCulture);
        start.Environment["PEER_PUBLIC_CLIENT_ID"] = ServerUnderTest.PublicClientId;
        start.Environment["PEER_REDIRECT_URI"] = ServerUnderTest.RedirectUri;
        start.Environment["PEER_SERVICE_CLIENT_ID"] = ServerUnderTest.ServiceClientId;
        start.Environment["PEER_SERVICE_SECRET"] = ServiceSecret;
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, line) => _lastLines.Add(line.Data);
        _process.ErrorDataReceived += (_, line) => _lastLines.Add(line.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        _process.StandardInput.Close();

        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the peer exited with {_process.ExitCode}:\n{_lastLines}");
            }

            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/.well-known/openid-configuration");
                request.Headers.Add("X-Forwarded-Proto", "https");
                using var response = await client.SendAsync(request);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    ServerUnderTest.Log($"peer oidc-provider {Version} (node {NodeVersion}) ready on {BaseAddress} (pid {_process.Id}) after {deadline.Elapsed.TotalSeconds:F1}s; its output:\n{_lastLines}");
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"the peer was not ready within 60s:\n{_lastLines}");
    }

    private static async Task<string> NodeVersionAsync()
    {
        try
        {
            using var node = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true })!;
            var version = (await node.StandardOutput.ReadToEndAsync()).Trim();
            await node.WaitForExitAsync();
            return version;
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            throw new InvalidOperationException($"node not found on PATH ({exception.Message}): the peer needs Node.js 20 or later; or pass --no-peer", exception);
        }
    }

    /// <summary>CPU time the peer's node process has used (<see cref="ProcessCpu"/>).</summary>
    public TimeSpan CpuTime() => ProcessCpu.Of(Pid);

    public string LastLines() => _lastLines.ToString();

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
    }
}
