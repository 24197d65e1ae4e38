using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// A loopback TCP forwarder in front of a real server (PostgreSQL), so a test can take the database away
/// from the running auth server and give it back, without stopping the database itself.
/// </summary>
public sealed class TcpProxy(int upstreamPort) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<TcpClient, byte> _connections = new();
    private TcpListener? _listener;
    private CancellationTokenSource? _running;

    /// <summary>The same port on every <see cref="Start"/>, so clients find the database where it was.</summary>
    public int Port { get; } = TestPorts.Free();

    public void Start()
    {
        _listener = new TcpListener(IPAddress.Loopback, Port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        _running = new CancellationTokenSource();
        _ = AcceptAsync(_listener, _running.Token);
    }

    /// <summary>Refuses new connections and cuts every open one: to the client, the database is gone.</summary>
    public async Task StopAsync()
    {
        if (_running is not null)
        {
            await _running.CancelAsync();
        }

        _listener?.Stop();
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }

        _connections.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _running?.Dispose();
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(cancellationToken);
            }
            catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = PipeAsync(client, cancellationToken);
        }
    }

    private async Task PipeAsync(TcpClient client, CancellationToken cancellationToken)
    {
        using var upstream = new TcpClient();
        _connections[client] = 0;
        _connections[upstream] = 0;
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, upstreamPort, cancellationToken);
            var down = client.GetStream().CopyToAsync(upstream.GetStream(), cancellationToken);
            var up = upstream.GetStream().CopyToAsync(client.GetStream(), cancellationToken);
            await Task.WhenAny(down, up);
        }
        catch (Exception exception) when (exception is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // The connection ends: that is the point of stopping the proxy.
        }
        finally
        {
            _connections.TryRemove(client, out _);
            _connections.TryRemove(upstream, out _);
            client.Dispose();
        }
    }
}
