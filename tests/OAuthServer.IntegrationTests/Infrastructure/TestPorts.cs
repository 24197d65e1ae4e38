using System.Net;
using System.Net.Sockets;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>Loopback ports for the servers the tests start.</summary>
/// <remarks>
/// Note: a port the OS hands out for "port 0" comes from its ephemeral range (32768-60999 on Linux), the same range
/// every outgoing connection takes its local port from. Released and bound again a moment later, such a port can
/// meanwhile be the source port of one of the suite's own HTTP or database connections, and the server fails with
/// "address already in use". Ports below that range are never handed out by the OS, and the counter keeps two
/// servers of this process from being given the same one.
/// </remarks>
public static class TestPorts
{
    private const int First = 20_000;
    private const int Count = 12_000;

    private static int _next = Environment.ProcessId % Count;

    /// <summary>A loopback port below the ephemeral range that nothing listens on now.</summary>
    public static int Free()
    {
        for (var attempt = 0; attempt < Count; attempt++)
        {
            var port = First + (int)((uint)Interlocked.Increment(ref _next) % Count);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken by someone else: try the next one.
            }
        }

        throw new InvalidOperationException($"No free loopback port in {First}-{First + Count - 1}.");
    }
}
