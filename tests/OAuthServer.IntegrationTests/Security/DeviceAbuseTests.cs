using System.Net;
using System.Net.Sockets;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.Infrastructure.DeviceSteps;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// The device flow's abuse controls with the limits on (RFC 8628 §5.1 guessing, §3.5 polling): a guesser spends
/// only their own address's budget, whichever path spelling, method and parameter place they try, and a device
/// that polls too fast is told to slow down. Clients come from distinct loopback source addresses (no proxy).
/// </summary>
[Collection(RateLimitServers.Collection)]
public sealed class DeviceAbuseTests
{
    private const int Guesses = 4;

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task Wrong_user_codes_spend_the_guessers_own_budget_and_never_the_owners(string store)
    {
        await using var server = await RateLimitServers.StartAsync(store, new()
        {
            ["Server:KnownProxies:0"] = null,
            ["RateLimiting:UserCodePerIp:PermitLimit"] = Guesses.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RateLimiting:UserCodePerIp:Window"] = "00:10:00",
        });
        var email = await server.CreateUserAsync();
        var clientId = await server.CreateDeviceClientAsync();
        using var api = server.CreateApiClient();
        var (_, device) = await AuthorizeDeviceAsync(api, clientId);
        var userCode = device.GetProperty("user_code").GetString()!;

        // The stranger at 127.0.0.2 guesses by every road to the page: spellings of the path, GET and POST, the
        // code in the query or the form, a HEAD nobody serves.
        using var stranger = From("127.0.0.2", server.Issuer);
        var roads = new Func<string, Task<HttpResponseMessage>>[]
        {
            code => stranger.GetAsync($"/connect/verify?user_code={code}"),
            code => stranger.GetAsync($"/CONNECT//verify/?user_code={code}"),
            code => stranger.PostAsync("/connect%2Fverify", new FormUrlEncodedContent(new Dictionary<string, string> { ["user_code"] = code })),
            code => stranger.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/Connect/Verify?user_code={code}")),
        };
        for (var guess = 0; guess < Guesses; guess++)
        {
            (await roads[guess % roads.Length](WrongCode(guess))).StatusCode.Should().NotBe(HttpStatusCode.TooManyRequests, "guess {0} is within the budget", guess);
        }

        foreach (var road in roads)
        {
            (await road(userCode)).StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "the budget is spent, whatever the road, even for the right code");
        }

        // The owner at 127.0.0.1 mistypes too, then approves: the stranger's guesses cost them nothing, and the
        // right code (opened several times) spends nothing either.
        var owner = new BrowserFlow(server.Issuer, From("127.0.0.1", server.Issuer, cookies: true));
        (await OpenVerificationAsync(owner, WrongCode(99), email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        for (var look = 0; look < Guesses; look++)
        {
            (await owner.FollowAsync($"/connect/verify?user_code={userCode}")).StatusCode.Should().Be(HttpStatusCode.OK, "a valid code gives its guess back");
        }

        await ApproveAsync(owner, userCode, email, TestData.Password);
        (await PollAsync(api, clientId, device.GetProperty("device_code").GetString()!)).Status.Should().Be(HttpStatusCode.OK);
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task A_device_polling_faster_than_its_interval_is_told_to_slow_down(string store)
    {
        await using var server = await RateLimitServers.StartAsync(store, new() { ["RateLimiting:DevicePolling:Window"] = "00:00:02" });
        var clientId = await server.CreateDeviceClientAsync();
        using var api = server.CreateApiClient();
        var (_, device) = await AuthorizeDeviceAsync(api, clientId);
        device.GetProperty("interval").GetInt64().Should().Be(3, "the enforced window plus a second of slack");
        var deviceCode = device.GetProperty("device_code").GetString()!;

        (await PollAsync(api, clientId, deviceCode)).Body.GetProperty("error").GetString().Should().Be("authorization_pending");
        var (status, fast) = await PollAsync(api, clientId, deviceCode);
        status.Should().Be(HttpStatusCode.BadRequest);
        fast.GetProperty("error").GetString().Should().Be("slow_down");

        // Another device's polls are its own; and after waiting the interval, this one is answered again.
        var (_, other) = await AuthorizeDeviceAsync(api, clientId);
        (await PollAsync(api, clientId, other.GetProperty("device_code").GetString()!)).Body.GetProperty("error").GetString().Should().Be("authorization_pending");
        await Task.Delay(TimeSpan.FromSeconds(device.GetProperty("interval").GetInt64()));
        (await PollAsync(api, clientId, deviceCode)).Body.GetProperty("error").GetString().Should().Be("authorization_pending");
    }

    // Well-formed codes of the right alphabet that no device was given (a collision is 1 in 10^13).
    private static string WrongCode(int index) => "BCDFG-" + new string("HJKLMNPQRSTVWXZ"[index % 15], 5);

    private static HttpClient From(string sourceAddress, Uri issuer, bool cookies = false)
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = cookies, CookieContainer = new CookieContainer() };
        handler.ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Parse(sourceAddress), 0));
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        };
        return new HttpClient(handler) { BaseAddress = issuer };
    }
}
