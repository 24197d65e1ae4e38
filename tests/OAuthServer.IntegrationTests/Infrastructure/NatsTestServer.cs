using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>A nats-server (JetStream on) of the test's own, which the test may stop and start again on the same port and store.</summary>
public sealed class NatsTestServer : IAsyncDisposable
{
    private readonly string _store = Directory.CreateTempSubdirectory("nats-it-").FullName;
    private Process? _process;

    public NatsTestServer()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public int Port { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    public static string Binary => Environment.GetEnvironmentVariable("OAUTH_TEST_NATS_BIN")
        ?? throw new InvalidOperationException("OAUTH_TEST_NATS_BIN is not set: run the tests through ops/test.sh.");

    public async Task StartAsync()
    {
        var start = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-js", "-sd", _store, "-a", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
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

        throw new InvalidOperationException("nats-server did not start");
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
        Directory.Delete(_store, recursive: true);
    }

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
