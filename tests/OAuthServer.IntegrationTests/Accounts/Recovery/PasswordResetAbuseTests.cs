using System.Net;
using System.Net.Sockets;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.IntegrationTests.Security;

namespace OAuthServer.IntegrationTests.Accounts.Recovery;

/// <summary>
/// The reset pages' budgets with the limits on, on either counter store: per typed address (no mail bombing, and
/// never at the cost of the owner's sign-in), per sender on both posts, whatever the spelling of the path, and a
/// sender's spending never costs another address anything.
/// </summary>
[Collection(RateLimitServers.Collection)]
public sealed class PasswordResetAbuseTests
{
    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task A_stranger_flooding_one_address_is_capped_and_the_owner_still_signs_in(string store)
    {
        await using var server = await RateLimitServers.StartAsync(store, TestMailbox.Settings(new()
        {
            ["RateLimiting:ForgotPasswordPerAddress:PermitLimit"] = "3",
        }));
        var victim = await server.CreateUserAsync();
        var control = await server.CreateUserAsync();

        // Ten senders, so no per-sender budget is what stops them.
        var statuses = new List<HttpStatusCode>();
        for (var sender = 1; sender <= 10; sender++)
        {
            statuses.Add((await new BrowserFlow(server).RequestResetAsync(victim, forwardedFor: $"192.0.2.{sender}")).StatusCode);
        }

        statuses.Count(status => status == HttpStatusCode.OK).Should().Be(3);
        statuses.Count(status => status == HttpStatusCode.TooManyRequests).Should().Be(7);
        // The queue is worked in order: once the control mail is there, every accepted request was handled.
        (await new BrowserFlow(server).RequestResetAsync(control, forwardedFor: "192.0.2.200")).StatusCode.Should().Be(HttpStatusCode.OK);
        await TestMailbox.WaitForAsync(control);
        TestMailbox.To(victim).Should().HaveCount(3, "the mailbox gets at most the address's budget of mail");
        (await server.LoginAsync(victim, TestData.Password, forwardedFor: "198.51.100.7")).StatusCode.Should().Be(HttpStatusCode.Redirect,
            "spending the reset budget of an address never touches its sign-in");
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task One_sender_is_capped_on_both_posts_and_other_senders_are_not(string store)
    {
        await using var server = await RateLimitServers.StartAsync(store, TestMailbox.Settings(new()
        {
            ["RateLimiting:ForgotPasswordPerIp:PermitLimit"] = "2",
            ["RateLimiting:ResetPasswordPerIp:PermitLimit"] = "2",
        }));
        var owner = await server.CreateUserAsync();

        for (var request = 0; request < 2; request++)
        {
            (await new BrowserFlow(server).RequestResetAsync(TestData.NewEmail(), forwardedFor: "203.0.113.9")).StatusCode.Should().Be(HttpStatusCode.OK);
        }

        var refused = await new BrowserFlow(server).RequestResetAsync(owner, forwardedFor: "203.0.113.9");
        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        (await refused.Content.ReadAsStringAsync()).Should().Contain("Too many requests")
            .And.NotContain("sign-in attempts", "nobody was signing in: the page must not say so");
        (await new BrowserFlow(server).RequestResetAsync(owner, forwardedFor: "203.0.113.10")).StatusCode.Should().Be(HttpStatusCode.OK);
        var link = TestMailbox.ResetLink((await TestMailbox.WaitForAsync(owner)).Single());

        var guesser = new BrowserFlow(server);
        var forged = await ForgedFormAsync(guesser, "203.0.113.9");
        for (var guess = 0; guess < 2; guess++)
        {
            (await guesser.SubmitNewPasswordAsync(forged, "a-guessers-passphrase", forwardedFor: "203.0.113.9")).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        }

        (await guesser.SubmitNewPasswordAsync(forged, "a-guessers-passphrase", forwardedFor: "203.0.113.9")).StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        var person = new BrowserFlow(server);
        (await person.SubmitNewPasswordAsync(await person.OpenLinkAsync(link), "the-owners-new-passphrase", forwardedFor: "203.0.113.10"))
            .StatusCode.Should().Be(HttpStatusCode.OK, "the guesser's budget is the guesser's");
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task Every_spelling_of_the_reset_paths_spends_the_same_budget(string store)
    {
        await using var server = await RateLimitServers.StartAsync(store, TestMailbox.Settings(new()
        {
            ["RateLimiting:ForgotPasswordPerIp:PermitLimit"] = "1",
            ["RateLimiting:ResetPasswordPerIp:PermitLimit"] = "1",
        }));
        string[] forgot = ["/account/forgot-password/", "/ACCOUNT/FORGOT-PASSWORD", "/Account/Forgot-Password/"];
        string[] reset = ["/account/reset-password/", "/ACCOUNT/RESET-PASSWORD", "/Account/Reset-Password/"];
        var octet = 1;
        foreach (var spelling in forgot)
        {
            // A fresh sender proves the spelling reaches the page (a 404 would be no bypass); a spent one is refused.
            (await new BrowserFlow(server).RequestResetAsync(TestData.NewEmail(), $"192.0.2.{octet++}", spelling)).StatusCode.Should().Be(HttpStatusCode.OK, spelling);
            var ip = $"192.0.2.{octet++}";
            (await new BrowserFlow(server).RequestResetAsync(TestData.NewEmail(), ip)).StatusCode.Should().Be(HttpStatusCode.OK);
            (await new BrowserFlow(server).RequestResetAsync(TestData.NewEmail(), ip, spelling)).StatusCode.Should().Be(HttpStatusCode.TooManyRequests, spelling);
        }

        foreach (var spelling in reset)
        {
            var fresh = $"192.0.2.{octet++}";
            var first = new BrowserFlow(server);
            (await first.SubmitNewPasswordAsync(await ForgedFormAsync(first, fresh), "a-guessers-passphrase", forwardedFor: fresh, path: spelling))
                .StatusCode.Should().Be(HttpStatusCode.BadRequest, spelling);
            var ip = $"192.0.2.{octet++}";
            var second = new BrowserFlow(server);
            var forged = await ForgedFormAsync(second, ip);
            (await second.SubmitNewPasswordAsync(forged, "a-guessers-passphrase", forwardedFor: ip)).StatusCode.Should().Be(HttpStatusCode.BadRequest);
            (await second.SubmitNewPasswordAsync(forged, "a-guessers-passphrase", forwardedFor: ip, path: spelling))
                .StatusCode.Should().Be(HttpStatusCode.TooManyRequests, spelling);
        }
    }

    [Theory]
    [MemberData(nameof(RateLimitServers.Stores), MemberType = typeof(RateLimitServers))]
    public async Task A_stranger_at_another_loopback_address_spends_only_their_own_budget(string store)
    {
        await using var server = await RateLimitServers.StartAsync(store, TestMailbox.Settings(new()
        {
            ["Server:KnownProxies:0"] = null,
            ["RateLimiting:ForgotPasswordPerIp:PermitLimit"] = "3",
        }));
        var owner = await server.CreateUserAsync();
        var stranger = new BrowserFlow(server.Issuer, From("127.0.0.2", server.Issuer));
        for (var request = 0; request < 3; request++)
        {
            (await stranger.RequestResetAsync(TestData.NewEmail())).StatusCode.Should().Be(HttpStatusCode.OK);
        }

        (await stranger.RequestResetAsync(owner)).StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "the stranger's budget is spent");

        var person = new BrowserFlow(server.Issuer, From("127.0.0.1", server.Issuer));
        (await person.RequestResetAsync(owner)).StatusCode.Should().Be(HttpStatusCode.OK, "the owner's address has its own budget");
        (await TestMailbox.WaitForAsync(owner)).Should().HaveCount(1);
    }

    // A reset form as an attacker would post it: a valid antiforgery pair from the server, a made-up token.
    private static async Task<HttpResponseMessage> ForgedFormAsync(BrowserFlow flow, string forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/account/forgot-password");
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        var page = await flow.Browser.SendAsync(request);
        var fields = BrowserFlow.HiddenFields(await page.Content.ReadAsStringAsync());
        fields["token"] = System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        return new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StringContent(string.Concat(fields.Select(field => $"<input type=\"hidden\" name=\"{WebUtility.HtmlEncode(field.Key)}\" value=\"{WebUtility.HtmlEncode(field.Value)}\">"))),
        };
    }

    private static HttpClient From(string sourceAddress, Uri issuer)
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = new CookieContainer() };
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
