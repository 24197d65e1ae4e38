using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// A server binary (nats-server, redis-server) run by the test itself on a free loopback port, so the test can
/// stop it and start it again on the same port and data folder.
/// </summary>
public class OwnedServerProcess(string binaryVariable, Func<int, string, string[]> arguments) : IAsyncDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("owned-server-").FullName;
    private Process? _process;

    public int Port { get; } = TestPorts.Free();

    public async Task StartAsync()
    {
        var binary = Environment.GetEnvironmentVariable(binaryVariable)
            ?? throw new InvalidOperationException($"{binaryVariable} is not set: run the tests through ops/test.sh.");
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in arguments(Port, _folder))
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        for (var attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new InvalidOperationException($"{binary} did not start");
    }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(_folder, recursive: true);
        GC.SuppressFinalize(this);
    }

}

/// <summary>A redis-server of the test's own, without persistence.</summary>
public sealed class RedisTestServer() : OwnedServerProcess("OAUTH_TEST_REDIS_BIN", (port, folder) =>
    ["--bind", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no", "--dir", folder])
{
    public string Configuration => $"127.0.0.1:{Port}";
}

/// <summary>A nats-server (JetStream on, its store in the test's folder) of the test's own.</summary>
public sealed class NatsTestServer() : OwnedServerProcess("OAUTH_TEST_NATS_BIN", (port, folder) =>
    ["-js", "-sd", folder, "-a", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
{
    public string Url => $"nats://127.0.0.1:{Port}";

    /// <summary>Every message now in the OAUTH_SECURITY stream (subject and body), read with an ordered consumer.</summary>
    public static async Task<List<(string Subject, string Body)>> ReadStreamAsync(string url)
    {
        await using var connection = new NatsConnection(new NatsOpts { Url = url });
        var jetStream = new NatsJSContext(connection);
        var stream = await jetStream.GetStreamAsync("OAUTH_SECURITY");
        var total = stream.Info.State.Messages;
        var messages = new List<(string, string)>();
        if (total == 0)
        {
            return messages;
        }

        var consumer = await jetStream.CreateOrderedConsumerAsync("OAUTH_SECURITY", new NatsJSOrderedConsumerOpts { DeliverPolicy = ConsumerConfigDeliverPolicy.All });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await foreach (var message in consumer.ConsumeAsync<byte[]>(cancellationToken: timeout.Token))
        {
            messages.Add((message.Subject, System.Text.Encoding.UTF8.GetString(message.Data ?? [])));
            if ((ulong)messages.Count >= (ulong)total)
            {
                break;
            }
        }

        return messages;
    }
}
