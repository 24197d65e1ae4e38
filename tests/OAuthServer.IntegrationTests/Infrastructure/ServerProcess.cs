using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// The server binary started as a process that need not become ready (a node on an unmigrated database, say):
/// it waits for liveness only, and keeps every output line. Disposing kills it.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private ServerProcess(Process process, Uri baseUri)
    {
        _process = process;
        BaseUri = baseUri;
    }

    public Uri BaseUri { get; }

    public string Output => string.Join("\n", _lines);


    /// <summary>Starts the binary on <paramref name="baseUri"/> and returns once /health/live answers 200.</summary>
    public static async Task<ServerProcess> StartAsync(Uri baseUri, IReadOnlyDictionary<string, string> environment)
    {
        var variables = new Dictionary<string, string>(environment) { ["ASPNETCORE_URLS"] = baseUri.ToString().TrimEnd('/') };
        var server = new ServerProcess(Process.Start(ServerBinary.StartInfo([], variables))!, baseUri);
        server._process.OutputDataReceived += (_, line) => { if (line.Data is not null) { server._lines.Enqueue(line.Data); } };
        server._process.ErrorDataReceived += (_, line) => { if (line.Data is not null) { server._lines.Enqueue(line.Data); } };
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = baseUri };
        // Note: generous: a Development start makes three RSA keys and migrates, on a machine shared with other tests.
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline && !server._process.HasExited)
        {
            try
            {
                if ((await http.GetAsync("/health/live")).IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(200);
        }

        await server.DisposeAsync();
        throw new InvalidOperationException($"The server process at {baseUri} did not come up:\n{server.Output}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
