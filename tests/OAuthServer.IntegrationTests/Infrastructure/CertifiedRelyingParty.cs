using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// One run of tests/openid-client/rp.mjs: panva's openid-client, a certified relying-party library, playing one
/// scenario against our server as its own Node.js process. It reports each step as a JSON line; when a person has
/// to act (sign in, approve a device) the test does that and replies on its standard input.
/// </summary>
public sealed class CertifiedRelyingParty : IAsyncDisposable
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(90);
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _errors = new();

    private CertifiedRelyingParty(Process process) => _process = process;

    /// <summary>Where ops/test.sh installed the library (<c>npm ci</c> from the lock file).</summary>
    public static string Folder => Environment.GetEnvironmentVariable("OAUTH_TEST_OPENID_CLIENT")
        ?? throw new InvalidOperationException("OAUTH_TEST_OPENID_CLIENT is not set: run the tests through ops/test.sh, which installs openid-client.");

    public static CertifiedRelyingParty Start(string scenario, object configuration)
    {
        var start = new ProcessStartInfo("node", ["rp.mjs", scenario])
        {
            WorkingDirectory = Folder,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["RP_CONFIG"] = JsonSerializer.Serialize(configuration);
        var party = new CertifiedRelyingParty(Process.Start(start)!);
        party._process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is null)
            {
                party._lines.Writer.TryComplete();
            }
            else
            {
                party._lines.Writer.TryWrite(line.Data);
            }
        };
        party._process.ErrorDataReceived += (_, line) =>
        {
            if (line.Data is not null)
            {
                lock (party._errors)
                {
                    party._errors.AppendLine(line.Data);
                }
            }
        };
        party._process.BeginOutputReadLine();
        party._process.BeginErrorReadLine();
        return party;
    }

    /// <summary>The next step the library reports; it must be <paramref name="expected"/>.</summary>
    public async Task<JsonElement> StepAsync(string expected)
    {
        using var timeout = new CancellationTokenSource(StepTimeout);
        string line;
        try
        {
            line = await _lines.Reader.ReadAsync(timeout.Token);
        }
        catch (Exception exception) when (exception is OperationCanceledException or ChannelClosedException)
        {
            throw new InvalidOperationException($"openid-client gave no '{expected}' step ({(exception is OperationCanceledException ? "timed out" : "it exited")}).\n{Errors}");
        }

        var step = JsonDocument.Parse(line).RootElement;
        var name = step.GetProperty("step").GetString();
        if (name != expected)
        {
            throw new InvalidOperationException($"openid-client reported '{name}' where '{expected}' was expected: {line}\n{Errors}");
        }

        return step;
    }

    /// <summary>Answers the step the library is waiting on.</summary>
    public async Task ReplyAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits for the scenario to finish, and for its process to exit successfully.</summary>
    public async Task CompletesAsync()
    {
        await StepAsync("done");
        using var timeout = new CancellationTokenSource(StepTimeout);
        await _process.WaitForExitAsync(timeout.Token);
        _process.ExitCode.Should().Be(0, Errors);
    }

    private string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString();
            }
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
}
