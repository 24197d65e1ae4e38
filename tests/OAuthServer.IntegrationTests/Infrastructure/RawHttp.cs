using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>What came back for one raw request.</summary>
public sealed record RawResponse(int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, string Body, string Outcome)
{
    public string? Header(string name) => Headers.FirstOrDefault(header => header.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
}

/// <summary>
/// HTTP/1.1 over a bare socket, one request per connection (<c>Connection: close</c>), so a test can send what
/// HttpClient refuses to: CR/LF and NUL inside headers, invalid UTF-8, wrong lengths, bad request lines.
/// </summary>
public static class RawHttp
{
    public static byte[] Request(string method, string target, int port, IEnumerable<string> headers, byte[]? body) =>
        Request(Encoding.Latin1.GetBytes(target), method, port, headers.Select(Encoding.Latin1.GetBytes), body);

    /// <summary>Builds a request from raw parts; header lines are raw bytes, without their CRLF.</summary>
    public static byte[] Request(byte[] target, string method, int port, IEnumerable<byte[]> headers, byte[]? body)
    {
        using var buffer = new MemoryStream();
        void Write(byte[] bytes) => buffer.Write(bytes);
        void Line(string text) => Write(Encoding.Latin1.GetBytes(text + "\r\n"));
        Write(Encoding.Latin1.GetBytes(method + " "));
        Write(target);
        Line(" HTTP/1.1");
        Line($"Host: 127.0.0.1:{port}");
        Line("Connection: close");
        foreach (var header in headers)
        {
            Write(header);
            Line(string.Empty);
        }

        if (body is not null)
        {
            Line($"Content-Length: {body.Length}");
        }

        Line(string.Empty);
        if (body is not null)
        {
            Write(body);
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// Sends the bytes while reading the answer (a server may answer 413 before the body is in), and returns
    /// the first response. Outcome is "ok", "reset" (the connection was cut) or "timeout".
    /// </summary>
    public static async Task<RawResponse> SendAsync(int port, byte[] request, TimeSpan timeout)
    {
        using var client = new TcpClient();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, deadline.Token);
            var stream = client.GetStream();
            var writing = WriteAsync(stream, request, deadline.Token);
            using var received = new MemoryStream();
            var buffer = new byte[16 * 1024];
            var reset = false;
            try
            {
                int read;
                while ((read = await stream.ReadAsync(buffer, deadline.Token)) > 0)
                {
                    received.Write(buffer, 0, read);
                }
            }
            catch (IOException)
            {
                reset = true;
            }

            await writing;
            var parsed = Parse(received.ToArray());
            return parsed is null
                ? new RawResponse(0, [], string.Empty, reset ? "reset" : "no-response")
                : parsed with { Outcome = "ok" };
        }
        catch (OperationCanceledException)
        {
            return new RawResponse(0, [], string.Empty, "timeout");
        }
        catch (SocketException)
        {
            return new RawResponse(0, [], string.Empty, "reset");
        }
    }

    private static async Task WriteAsync(NetworkStream stream, byte[] request, CancellationToken cancellation)
    {
        try
        {
            await stream.WriteAsync(request, cancellation);
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The server may refuse and close before the whole request is in; its answer is what counts.
        }
    }

    private static RawResponse? Parse(byte[] bytes)
    {
        var end = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return null;
        }

        var lines = Encoding.Latin1.GetString(bytes, 0, end).Split("\r\n");
        var statusParts = lines[0].Split(' ');
        if (statusParts.Length < 2 || !int.TryParse(statusParts[1], out var status))
        {
            return null;
        }

        var headers = lines.Skip(1).Select(line => line.Split(':', 2))
            .Select(parts => KeyValuePair.Create(parts[0].Trim(), parts.Length > 1 ? parts[1].Trim() : string.Empty)).ToList();
        var body = bytes.AsSpan(end + 4).ToArray();
        if (headers.Any(header => header.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && header.Value.Contains("chunked", StringComparison.OrdinalIgnoreCase)))
        {
            body = Dechunk(body);
        }

        return new RawResponse(status, headers, Encoding.UTF8.GetString(body), "ok");
    }

    private static byte[] Dechunk(byte[] chunked)
    {
        using var output = new MemoryStream();
        var position = 0;
        while (position < chunked.Length)
        {
            var lineEnd = chunked.AsSpan(position).IndexOf("\r\n"u8);
            if (lineEnd < 0)
            {
                break;
            }

            var sizeText = Encoding.ASCII.GetString(chunked, position, lineEnd).Split(';')[0];
            if (!int.TryParse(sizeText, System.Globalization.NumberStyles.HexNumber, null, out var size) || size == 0)
            {
                break;
            }

            position += lineEnd + 2;
            output.Write(chunked, position, Math.Min(size, chunked.Length - position));
            position += size + 2;
        }

        return output.ToArray();
    }
}
