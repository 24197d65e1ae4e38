using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Reliability;

/// <summary>
/// Oversized and slow requests are refused with a 4xx (or a closed connection for a client that never finishes
/// its headers), never a 5xx, and the server keeps serving.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class RequestLimitTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Oversized_body_is_413()
    {
        using var api = server.CreateApiClient();
        var response = await api.PostAsync("/connect/token", Form(("grant_type", "refresh_token"), ("refresh_token", new string('a', 128 * 1024))));

        response.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        await ShouldStillServeAsync(api);
    }

    [Fact]
    public async Task Oversized_body_without_a_content_length_is_413()
    {
        using var api = server.CreateApiClient();
        // Note: five values of 15 KiB: each under the form's value-length limit (16 KiB) and fewer than its value-count
        // limit, so only the body's total (75 KiB against 64 KiB) can refuse it, whatever chunks the body arrives in.
        var body = "grant_type=refresh_token" + string.Concat(Enumerable.Range(0, 5).Select(index => $"&p{index}=" + new string('a', 15 * 1024)));
        using var content = new StreamContent(new MemoryStream(Encoding.ASCII.GetBytes(body)));
        content.Headers.ContentType = new("application/x-www-form-urlencoded");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await api.SendAsync(request);

        response.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task Too_many_form_values_are_a_400_OAuth_error()
    {
        using var api = server.CreateApiClient();
        var fields = Enumerable.Range(0, 100).Select(index => ($"p{index}", "x")).Prepend(("grant_type", "refresh_token")).ToArray();

        var response = await api.PostAsync("/connect/token", Form(fields));

        await ShouldBeClientErrorAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Too_long_form_value_is_a_400()
    {
        using var api = server.CreateApiClient();

        var response = await api.PostAsync("/connect/token", Form(("grant_type", "refresh_token"), ("refresh_token", new string('a', 20 * 1024))));

        await ShouldBeClientErrorAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Too_long_form_value_on_the_login_page_is_a_400()
    {
        using var api = server.CreateApiClient();

        var response = await api.PostAsync("/account/login", Form(("email", new string('a', 20 * 1024)), ("password", "x")));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Oversized_headers_are_431()
    {
        using var api = server.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/.well-known/openid-configuration");
        request.Headers.Add("X-Padding", new string('a', 40 * 1024));

        var response = await api.SendAsync(request);

        response.StatusCode.Should().Be(HttpStatusCode.RequestHeaderFieldsTooLarge);
        await ShouldStillServeAsync(api);
    }

    [Fact]
    public async Task Too_many_headers_are_431()
    {
        using var api = server.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/.well-known/openid-configuration");
        for (var index = 0; index < 100; index++)
        {
            request.Headers.Add($"X-H{index}", "x");
        }

        (await api.SendAsync(request)).StatusCode.Should().Be(HttpStatusCode.RequestHeaderFieldsTooLarge);
    }

    [Fact]
    public async Task Oversized_request_line_is_414()
    {
        using var api = server.CreateApiClient();

        var response = await api.GetAsync("/connect/authorize?state=" + new string('a', 16 * 1024));

        response.StatusCode.Should().Be(HttpStatusCode.RequestUriTooLong);
        await ShouldStillServeAsync(api);
    }

    [Fact]
    public async Task Slow_headers_and_slow_bodies_are_cut_off()
    {
        await using var node = await CustomServer.StartAsync(new()
        {
            ["RequestLimits:RequestHeadersTimeout"] = "00:00:01",
            ["RequestLimits:MinRequestBodyBytesPerSecond"] = "1000",
            ["RequestLimits:MinDataRateGracePeriod"] = "00:00:02",
        });

        // Slowloris: headers that never end. Kestrel drops the connection after the headers timeout.
        using (var slowHeaders = new TcpClient())
        {
            await slowHeaders.ConnectAsync(IPAddress.Loopback, node.Port);
            var stream = slowHeaders.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
            var clock = Stopwatch.StartNew();
            var answer = await ReadUntilClosedAsync(stream, TimeSpan.FromSeconds(60));
            answer.Closed.Should().BeTrue("the server must not wait forever for headers");
            clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(60));
            answer.Text.Should().NotContain("HTTP/1.1 5", "a slow client is not a server fault");
        }

        // Slow POST: a declared body that trickles in far below the minimum rate gets 408, or is cut.
        using (var slowBody = new TcpClient())
        {
            await slowBody.ConnectAsync(IPAddress.Loopback, node.Port);
            var stream = slowBody.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                "POST /connect/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\ngrant_type="));
            using var trickle = new CancellationTokenSource();
            var writer = Task.Run(async () =>
            {
                try
                {
                    while (!trickle.IsCancellationRequested)
                    {
                        await stream.WriteAsync("a"u8.ToArray(), trickle.Token);
                        await Task.Delay(200, trickle.Token);
                    }
                }
                catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
                {
                    // The server hung up, as it should.
                }
            });
            var answer = await ReadUntilClosedAsync(stream, TimeSpan.FromSeconds(60));
            await trickle.CancelAsync();
            await writer;
            (answer.Closed || answer.Text.StartsWith("HTTP/1.1 408", StringComparison.Ordinal)).Should().BeTrue(answer.Text);
            answer.Text.Should().NotContain("HTTP/1.1 5");
        }

        using var api = node.CreateApiClient();
        await ShouldStillServeAsync(api);
    }

    [Fact]
    public async Task Bad_limits_stop_the_server_at_start_up_with_a_clear_message()
    {
        var failure = await Record.ExceptionAsync(() => CustomServer.StartAsync(new()
        {
            ["RequestLimits:MaxFormValueCount"] = "0",
            ["RequestLimits:MinDataRateGracePeriod"] = "00:00:01",
        }));

        failure.Should().NotBeNull();
        var messages = string.Join(" ", Flatten(failure!).OfType<Microsoft.Extensions.Options.OptionsValidationException>().SelectMany(exception => exception.Failures));
        messages.Should().Contain("RequestLimits:MaxFormValueCount must be positive").And.Contain("RequestLimits:MinDataRateGracePeriod");
    }

    private static IEnumerable<Exception> Flatten(Exception exception) =>
        exception is AggregateException aggregate ? aggregate.InnerExceptions.SelectMany(Flatten)
        : exception.InnerException is { } inner ? new[] { exception }.Concat(Flatten(inner)) : [exception];

    private static async Task ShouldStillServeAsync(HttpClient api) =>
        (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.OK);

    private static async Task ShouldBeClientErrorAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(expected, body);
        body.Should().MatchRegex("\"error\"|\"title\"", "the answer is an OAuth error or a ProblemDetails");
    }

    private static FormUrlEncodedContent Form(params (string Key, string Value)[] fields) =>
        new(fields.Select(field => new KeyValuePair<string, string>(field.Key, field.Value)));

    /// <summary>Reads what the server sends until it closes the connection, or the deadline passes.</summary>
    private static async Task<(bool Closed, string Text)> ReadUntilClosedAsync(NetworkStream stream, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        var text = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, timeout.Token);
                if (read == 0)
                {
                    return (true, text.ToString());
                }

                text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (OperationCanceledException)
        {
            return (false, text.ToString());
        }
        catch (IOException)
        {
            return (true, text.ToString());
        }
    }
}
