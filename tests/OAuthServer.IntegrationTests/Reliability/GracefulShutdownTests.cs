using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace OAuthServer.IntegrationTests.Reliability;

/// <summary>
/// The server binary as its own process gets SIGTERM while sign-ins are still uploading: they complete, their
/// security events reach JetStream in the relay's final flush, and the process exits 0 within its shutdown timeout.
/// </summary>
public sealed class GracefulShutdownTests(ITestOutputHelper output)
{
    private const int InFlight = 4;
    private const int ShutdownTimeoutSeconds = 20;

    [Fact]
    public async Task Sigterm_lets_requests_in_flight_complete_flushes_the_outbox_and_exits_in_time()
    {
        await using var nats = new NatsTestServer();
        await nats.StartAsync();
        await using var database = await TestDatabase.CreateMigratedAsync("oauth_shutdown");
        var folder = Directory.CreateTempSubdirectory("oauth-shutdown-").FullName;

        var port = TestPorts.Free();
        var lines = new ConcurrentQueue<string>();
        var baseUri = new Uri($"http://127.0.0.1:{port}/");
        using var server = await ServerBinary.ServeAsync(baseUri, new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__OAuthServer"] = database.ConnectionString,
            ["Server__Issuer"] = $"http://127.0.0.1:{port}/",
            ["Server__ShutdownTimeout"] = $"00:00:{ShutdownTimeoutSeconds}",
            ["Keys__Path"] = Path.Combine(folder, "keys"),
            ["Nats__Url"] = nats.Url,
            // The relay looks once a minute: events of this test's sign-ins can only reach JetStream in the final flush.
            ["Nats__PollInterval"] = "00:01:00",
            ["Argon2__AcquireTimeout"] = "00:00:30",
        }, lines);
        try
        {
            // The first relay pass (at start) is over once the seed's events are in the stream.
            await Task.Delay(TimeSpan.FromSeconds(2));
            var before = (await NatsTestServer.ReadStreamAsync(nats.Url)).Count(message => message.Subject == "oauth.security.login.succeeded");

            // Sign-ins whose form bodies trickle in over about three seconds: in flight when SIGTERM comes.
            var uploadStarted = new CountdownEvent(InFlight);
            var logins = Enumerable.Range(0, InFlight).Select(async _ =>
            {
                using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = baseUri };
                var fields = BrowserFlow.HiddenFields(await browser.GetStringAsync("/account/login"));
                fields["email"] = "demo@example.com";
                fields["password"] = "local-dev-password-1234";
                var body = await new FormUrlEncodedContent(fields).ReadAsByteArrayAsync();
                using var content = new TrickleContent(body, TimeSpan.FromSeconds(3), uploadStarted);
                content.Headers.ContentType = new("application/x-www-form-urlencoded");
                using var response = await browser.PostAsync("/account/login", content);
                return response.StatusCode;
            }).ToList();

            uploadStarted.Wait(TimeSpan.FromSeconds(60)).Should().BeTrue("every sign-in started uploading");
            var stopping = Stopwatch.StartNew();
            using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
            {
                await kill.WaitForExitAsync();
            }

            var statuses = await Task.WhenAll(logins);
            using var exitDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(ShutdownTimeoutSeconds + 30));
            await server.WaitForExitAsync(exitDeadline.Token);
            var exitSeconds = stopping.Elapsed.TotalSeconds;

            statuses.Should().OnlyContain(status => status == HttpStatusCode.Redirect, "sign-ins in flight at SIGTERM complete");
            server.ExitCode.Should().Be(0, "a graceful stop is a clean exit:\n" + string.Join("\n", lines.TakeLast(20)));
            exitSeconds.Should().BeLessThan(ShutdownTimeoutSeconds + 10, "the process exits within its shutdown timeout");
            var after = (await NatsTestServer.ReadStreamAsync(nats.Url)).Count(message => message.Subject == "oauth.security.login.succeeded");
            (after - before).Should().Be(InFlight, "the relay's final flush publishes the events of the drained requests");
            lines.Should().Contain(line => line.Contains("published", StringComparison.Ordinal) && line.Contains("pending security events", StringComparison.Ordinal));
            output.WriteLine($"{InFlight} sign-ins in flight at SIGTERM: all {statuses[0]}; exit code {server.ExitCode} after {exitSeconds:F1} s (timeout {ShutdownTimeoutSeconds} s); {after - before} login.succeeded events flushed");
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }

            Directory.Delete(folder, recursive: true);
        }
    }



    /// <summary>A request body sent in small pieces over a given time, like a client on a slow link.</summary>
    private sealed class TrickleContent(byte[] body, TimeSpan duration, CountdownEvent started) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            const int Pieces = 10;
            var size = (body.Length + Pieces - 1) / Pieces;
            for (var offset = 0; offset < body.Length; offset += size)
            {
                await stream.WriteAsync(body.AsMemory(offset, Math.Min(size, body.Length - offset)));
                await stream.FlushAsync();
                if (offset == 0)
                {
                    started.Signal();
                }

                await Task.Delay(duration / Pieces);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = body.Length;
            return true;
        }
    }
}
