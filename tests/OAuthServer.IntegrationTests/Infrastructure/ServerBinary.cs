using System.Collections.Concurrent;
using System.Diagnostics;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>The server binary run as its own process, as an operator or a container runs it.</summary>
internal static class ServerBinary
{
    /// <summary>
    /// <c>dotnet OAuthServer.dll args…</c> in the binary's folder (the content root, where appsettings.json is),
    /// with the given environment on top of the test process's.
    /// </summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var serverDll = typeof(Program).Assembly.Location;
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(serverDll)!,
        };
        start.ArgumentList.Add(serverDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return start;
    }

    /// <summary>Runs one command to completion, with <paramref name="stdin"/> piped in (then closed).</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(
        IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, string? stdin = null)
    {
        using var process = Process.Start(StartInfo(args, environment))!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    /// <summary>
    /// Starts the server binary to serve at <paramref name="baseUri"/>, collecting every output line into
    /// <paramref name="lines"/>, and returns once <c>/health/ready</c> answers 200. The caller owns the process.
    /// </summary>
    public static async Task<Process> ServeAsync(Uri baseUri, IReadOnlyDictionary<string, string> environment, ConcurrentQueue<string> lines)
    {
        var process = Process.Start(StartInfo([], environment))!;
        process.OutputDataReceived += (_, line) => { if (line.Data is not null) { lines.Enqueue(line.Data); } };
        process.ErrorDataReceived += (_, line) => { if (line.Data is not null) { lines.Enqueue(line.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = baseUri };
        for (var attempt = 0; attempt < 300; attempt++)
        {
            try
            {
                if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode)
                {
                    return process;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(200);
        }

        process.Kill(entireProcessTree: true);
        process.Dispose();
        throw new InvalidOperationException($"The server process at {baseUri} did not become ready:\n" + string.Join("\n", lines));
    }
}
