using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OAuthServer.IntegrationTests.E2E;

/// <summary>
/// A web sample (samples/ResourceApi, samples/SpaClient) run as its own process on a free loopback port, the way
/// <c>dotnet run</c> runs it: its project folder is the content root (wwwroot, appsettings.json), and settings
/// come in as command-line options on top of its appsettings.json.
/// </summary>
public sealed class SampleApp : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private SampleApp(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public Uri Origin => new($"http://127.0.0.1:{Port}");

    /// <summary>What the process wrote so far, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }


    /// <summary>Starts the sample and waits until <paramref name="readyPath"/> answers 200.</summary>
    public static async Task<SampleApp> StartAsync(string project, int port, IReadOnlyDictionary<string, string> settings, string readyPath)
    {
        var projectFolder = Path.Combine(RepositoryRoot, "samples", project);
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        // The samples are built by the same solution build as the tests, in the same configuration.
        var dll = Path.Combine(projectFolder, "bin", testBin.Parent!.Name, testBin.Name, project + ".dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"The {project} sample is not built at {dll}: build OAuthServer.sln (ops/test.sh does).");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = projectFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.ArgumentList.Add("--contentRoot");
        start.ArgumentList.Add(projectFolder);
        foreach (var (key, value) in settings)
        {
            start.ArgumentList.Add($"--{key}={value}");
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        var app = new SampleApp(Process.Start(start)!, port);
        app._process.OutputDataReceived += (_, line) => app.Append(line.Data);
        app._process.ErrorDataReceived += (_, line) => app.Append(line.Data);
        app._process.BeginOutputReadLine();
        app._process.BeginErrorReadLine();

        using var http = new HttpClient { BaseAddress = app.Origin, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            if (app._process.HasExited)
            {
                throw new InvalidOperationException($"{project} exited with {app._process.ExitCode}:\n{app.Output}");
            }

            try
            {
                using var response = await http.GetAsync(readyPath);
                if (response.IsSuccessStatusCode)
                {
                    return app;
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

        await app.DisposeAsync();
        throw new TimeoutException($"{project} did not answer {readyPath} within 2 minutes:\n{app.Output}");
    }

    public static string RepositoryRoot
    {
        get
        {
            var folder = new DirectoryInfo(AppContext.BaseDirectory);
            while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "OAuthServer.sln")))
            {
                folder = folder.Parent;
            }

            return folder?.FullName ?? throw new InvalidOperationException("OAuthServer.sln not found above the test binaries.");
        }
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

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public static string Text(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
