using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using OAuthServer.Accounts;
using OAuthServer.Events;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>
/// Threat model 1.2 and 1.3 as an attacker tries them: racing the lockout, using it to sign a victim out, and
/// getting past it with forged device cookies; and the operator's lock, which must hold everywhere.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class LockoutAttackTests(OAuthServerFactory server)
{
    private const int MaxFailures = 5;
    private const string Wrong = "wrong-password-attempt";

    [Fact]
    public async Task Parallel_wrong_passwords_evaluate_exactly_MaxFailures_guesses_per_lock()
    {
        // The shared server's acquire timeout is a minute: no attempt may be refused as busy, each must reach its verdict.
        var node = server;
        var email = await node.CreateUserAsync();
        var user = await node.ReadUserAsync(email);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => node.LoginAsync(email, Wrong)));

        responses.Should().OnlyContain(response => response.StatusCode == HttpStatusCode.Unauthorized);
        var events = await node.EventsForAsync(user.Id);
        Reasons(events).Count(reason => reason == "wrong_password").Should().Be(MaxFailures, "only the reserved checks may evaluate a guess");
        Reasons(events).Count(reason => reason == "locked").Should().Be(20 - MaxFailures);
        events.Count(item => item.Type == SecurityEventTypes.AccountLocked).Should().Be(1);
    }

    [Fact]
    public async Task Parallel_wrong_passwords_and_the_right_one_yield_no_session_after_the_lock()
    {
        var node = server;
        var email = await node.CreateUserAsync();
        var user = await node.ReadUserAsync(email);

        var attempts = Enumerable.Range(0, 20).Select(index => index == 7 ? TestData.Password : Wrong).ToList();
        var responses = await Task.WhenAll(attempts.Select(password => node.LoginAsync(email, password)));

        var events = await node.EventsForAsync(user.Id);
        var reasons = Reasons(events);
        var successes = events.Count(item => item.Type == SecurityEventTypes.LoginSucceeded);
        responses.Count(response => response.StatusCode == HttpStatusCode.Redirect).Should().Be(successes);
        responses.Count(response => response.Headers.TryGetValues("Set-Cookie", out var cookies)
            && cookies.Any(cookie => cookie.StartsWith("oauthserver.session=", StringComparison.Ordinal) && !cookie.Contains("expires=Thu, 01 Jan 1970", StringComparison.OrdinalIgnoreCase)))
            .Should().Be(successes, "a session cookie only comes with a recorded success");
        // Each lock allows MaxFailures evaluated guesses; only the owner's success (at most one) starts a new budget.
        var evaluated = reasons.Count(reason => reason is "wrong_password" or "locked_during_check") + successes;
        evaluated.Should().BeLessThanOrEqualTo(MaxFailures * (1 + successes));
        // Note: the owner's success may land inside the first MaxFailures reservations and start a new budget
        // before any lock is taken; then every other attempt was refused unevaluated and there is no lock.
        var lockedNow = (await node.ReadUserAsync(email)).LockedUntil > DateTime.UtcNow;
        var locks = events.Where(item => item.Type == SecurityEventTypes.AccountLocked).ToList();
        lockedNow.Should().Be(locks.Count > 0, "the account is locked exactly when a lock was recorded");
        if (locks.Count == 0)
        {
            successes.Should().Be(1, "without a lock, the owner's password must have been one of the evaluated checks");
            evaluated.Should().BeLessThanOrEqualTo(MaxFailures);
            return;
        }

        var firstLock = locks.Min(item => item.OccurredAt);
        events.Where(item => item.Type == SecurityEventTypes.LoginSucceeded).Should().NotContain(item => item.OccurredAt > firstLock,
            "no success may be recorded after the account was locked");
        (await node.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the lock holds for a new browser");
    }

    [Fact]
    public async Task A_strangers_lockout_leaves_the_owners_refresh_token_userinfo_and_browser_session_working()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var signedIn = await SignedIn.ForAsync(server, email, clientId, redirectUri, "openid email offline_access api");
        using var api = server.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(api);

        await LockOutAsync(email, "127.0.0.2");

        (await server.ReadUserAsync(email)).LockedUntil.Should().BeAfter(DateTime.UtcNow, "the stranger's failures locked the account");
        var refreshed = await (await api.RefreshAsync(clientId, tokens.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();
        (await UserInfoAsync(api, refreshed.GetProperty("access_token").GetString()!)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await UserInfoAsync(api, tokens.GetProperty("access_token").GetString()!)).StatusCode.Should().Be(HttpStatusCode.OK);
        var again = await signedIn.Flow!.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));
        again.StatusCode.Should().Be(HttpStatusCode.Redirect, "the owner's browser session still signs them in");
        BrowserFlow.Query(again.Headers.Location!).Should().ContainKey("code");
    }

    [Fact]
    public async Task The_owners_browser_with_its_device_cookie_signs_in_while_strangers_are_locked_out()
    {
        var email = await server.CreateUserAsync();
        var owner = new BrowserFlow(server);
        (await LoginAsync(owner, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        await LockOutAsync(email, "127.0.0.3");
        var lockedUntil = (await server.ReadUserAsync(email)).LockedUntil;

        (await LoginAsync(Stranger("127.0.0.3"), email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized,
            "a browser without the device cookie is locked out");
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await LoginAsync(owner, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "the owner's device is not locked out");
        (await LoginAsync(owner, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);

        var user = await server.ReadUserAsync(email);
        user.LockedUntil.Should().Be(lockedUntil, "the device's sign-in neither spends nor lifts the account's lockout");
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_shared_browser_stays_trusted_for_each_user_who_signed_in_on_it()
    {
        var first = await server.CreateUserAsync();
        var second = await server.CreateUserAsync();
        var shared = new BrowserFlow(server);
        (await LoginAsync(shared, first, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await LoginAsync(shared, second, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);

        // A stranger locks both accounts out; the browser both users signed in on is still trusted for each.
        await LockOutAsync(first, "127.0.0.5");
        await LockOutAsync(second, "127.0.0.5");
        (await LoginAsync(shared, first, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "the second sign-in must not have replaced the first user's trust");
        (await LoginAsync(shared, second, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await LoginAsync(Stranger("127.0.0.5"), first, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_device_has_its_own_budget_and_locks_itself_out_without_locking_the_account()
    {
        var email = await server.CreateUserAsync();
        var device = new BrowserFlow(server);
        (await LoginAsync(device, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);

        for (var attempt = 0; attempt < MaxFailures; attempt++)
        {
            (await LoginAsync(device, email, Wrong)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        (await LoginAsync(device, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the device spent its own budget");
        var user = await server.ReadUserAsync(email);
        user.LockedUntil.Should().BeNull("the device's failures are not the account's");
        user.FailedLoginCount.Should().Be(0);
        Reasons(await server.EventsForAsync(user.Id)).Should().Contain("device_locked");
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "other browsers use the account's budget");

        (await server.AdministerAsync(email, (accounts, id) => accounts.UnlockAsync(id, AccountHelpers.TestOrigin))).Should().BeNull();
        (await LoginAsync(device, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "unlock clears the device's lock too");
    }

    [Fact]
    public async Task A_forged_tampered_or_other_users_device_cookie_gives_nothing()
    {
        var victim = await server.CreateUserAsync();
        var attacker = await server.CreateUserAsync();
        // The attacker's own browser earns a genuine device cookie, for the attacker's own account.
        var attackerBrowser = new CookieContainer();
        var flow = new BrowserFlow(server.Issuer, Browser(attackerBrowser));
        (await LoginAsync(flow, attacker, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        var genuine = attackerBrowser.GetCookies(new Uri(server.Issuer, "/account/login"))[DeviceCookies.CookieName]!.Value;
        await LockOutAsync(victim, "127.0.0.4");

        (await LoginAsync(flow, victim, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "another user's device cookie");
        var tampered = genuine[..^4] + (genuine[^4] == 'A' ? 'B' : 'A') + genuine[^3..];
        foreach (var forged in new[] { tampered, "garbage", Convert.ToBase64String(Encoding.UTF8.GetBytes(Guid.NewGuid().ToString("N"))), new string('A', 3000) })
        {
            var jar = new CookieContainer();
            jar.Add(new Uri(server.Issuer, "/account/login"), new Cookie(DeviceCookies.CookieName, forged, "/account/login"));
            (await LoginAsync(new BrowserFlow(server.Issuer, Browser(jar)), victim, TestData.Password)).StatusCode
                .Should().Be(HttpStatusCode.Unauthorized, "a forged device cookie ({0}...) names no trusted device", forged[..Math.Min(8, forged.Length)]);
        }

        // The same genuine cookie sent on a differently spelt path is not a device cookie there either.
        var spelt = new BrowserFlow(server.Issuer, Browser(attackerBrowser));
        (await LoginAsync(spelt, victim, TestData.Password, "/Account/Login")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        var user = await server.ReadUserAsync(victim);
        (await server.EventsForAsync(user.Id)).Should().NotContain(item => item.Type == SecurityEventTypes.LoginSucceeded);
    }

    [Fact]
    public async Task An_operator_lock_through_the_admin_API_refuses_authorize_refresh_userinfo_and_code_redemption()
    {
        await using var node = await CustomServer.StartAsync(new() { ["Admin:BootstrapClientSecret"] = "bootstrap-secret-for-tests-0123456789abcdef" });
        var email = await node.CreateUserAsync();
        var user = await node.ReadUserAsync(email);
        var victim = await SignedInTwiceAsync(node, email);

        using var api = node.CreateApiClient();
        var adminToken = await api.ClientCredentialsTokenAsync("admin-cli", "bootstrap-secret-for-tests-0123456789abcdef", "oauth.admin", waitForClient: true);
        using var admin = node.CreateApiClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        (await admin.PostAsync($"/admin/users/{user.Id}/lock", null)).StatusCode.Should().Be(HttpStatusCode.NoContent);

        (await node.ReadUserAsync(email)).Status.Should().Be(AccountStatus.Locked);
        await victim.ShouldBeRefusedEverywhereAsync(node, email);

        (await admin.PostAsync($"/admin/users/{user.Id}/unlock", null)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await node.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "unlock ends the operator lock");
        (await node.EventsForAsync(user.Id)).Should().Contain(item => item.Type == SecurityEventTypes.AccountLocked && item.Data.Contains("operator"));
    }

    [Fact]
    public async Task An_operator_lock_through_the_cli_refuses_authorize_refresh_userinfo_and_code_redemption()
    {
        await using var node = await CustomServer.StartAsync();
        var email = await node.CreateUserAsync();
        var victim = await SignedInTwiceAsync(node, email);

        var locked = await ServerBinary.RunAsync(["users", "lock", "--email", email], CliEnvironment(node));
        locked.ExitCode.Should().Be(0, locked.Error);

        (await node.ReadUserAsync(email)).Status.Should().Be(AccountStatus.Locked);
        await victim.ShouldBeRefusedEverywhereAsync(node, email);
        (await ServerBinary.RunAsync(["users", "unlock", "--email", email], CliEnvironment(node))).ExitCode.Should().Be(0);
        (await node.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task The_account_gate_alone_refuses_an_operator_locked_user_behind_the_tokens_back()
    {
        // The state is changed directly in the database, so no token is revoked: only the gate stands.
        var email = await server.CreateUserAsync();
        var victim = await SignedInTwiceAsync(server, email);
        await server.ChangeUserAsync(email, user => user.Status = AccountStatus.Locked);

        await victim.ShouldBeRefusedEverywhereAsync(server, email);
    }

    private static Dictionary<string, string> CliEnvironment(OAuthServerFactory node) => new Dictionary<string, string>
    {
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
        ["DOTNET_ENVIRONMENT"] = "Production",
        ["Database__Provider"] = "Postgres",
        ["ConnectionStrings__OAuthServer"] = node.ConnectionString,
        ["Logging__LogLevel__Default"] = "Warning",
    };

    // A signed-in victim holding everything there is to hold: a browser session, redeemed tokens, and a second
    // code not yet redeemed.
    private static async Task<Victim> SignedInTwiceAsync(OAuthServerFactory node, string email)
    {
        var (clientId, redirectUri) = await node.CreatePublicClientAsync();
        var first = await SignedIn.ForAsync(node, email, clientId, redirectUri, "openid email offline_access api");
        using var api = node.CreateApiClient();
        var tokens = await first.RedeemAsync(api);
        var pkce = Pkce.Create();
        var second = await first.Flow!.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce)));
        second.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var code = BrowserFlow.Query(second.Headers.Location!)["code"];
        return new(first, tokens.GetProperty("refresh_token").GetString()!, tokens.GetProperty("access_token").GetString()!, code, pkce);
    }

    private sealed record Victim(SignedIn SignedIn, string RefreshToken, string AccessToken, string Code, Pkce Pkce)
    {
        public async Task ShouldBeRefusedEverywhereAsync(OAuthServerFactory node, string email)
        {
            using var api = node.CreateApiClient();
            await (await api.RefreshAsync(SignedIn.ClientId, RefreshToken)).ShouldFailWithAsync("invalid_grant");
            await (await api.RedeemCodeAsync(SignedIn.ClientId, SignedIn.RedirectUri, Code, Pkce.Verifier)).ShouldFailWithAsync("invalid_grant");
            (await UserInfoAsync(api, AccessToken)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
            var authorize = await SignedIn.Flow!.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(SignedIn.ClientId, SignedIn.RedirectUri, Pkce.Create())));
            authorize.StatusCode.Should().Be(HttpStatusCode.OK, "the browser session no longer signs the user in");
            (await authorize.Content.ReadAsStringAsync()).Should().Contain("action=\"/account/login\"");
            (await LoginAsync(SignedIn.Flow, email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized,
                "not even the owner's device signs in to a locked account");
        }
    }

    // A stranger elsewhere (another loopback source address) spends the account's whole budget.
    private async Task LockOutAsync(string email, string sourceAddress)
    {
        for (var attempt = 0; attempt < MaxFailures; attempt++)
        {
            (await LoginAsync(Stranger(sourceAddress), email, Wrong)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }
    }

    private BrowserFlow Stranger(string sourceAddress) => new(server.Issuer, Browser(new CookieContainer(), sourceAddress));

    private HttpClient Browser(CookieContainer cookies, string? sourceAddress = null)
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = cookies };
        if (sourceAddress is not null)
        {
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Parse(sourceAddress), 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            };
        }

        return new HttpClient(handler) { BaseAddress = server.Issuer };
    }

    private static async Task<HttpResponseMessage> LoginAsync(BrowserFlow flow, string email, string password, string path = "/account/login")
    {
        var fields = BrowserFlow.HiddenFields(await (await flow.FollowAsync("/account/login")).Content.ReadAsStringAsync());
        fields["email"] = email;
        fields["password"] = password;
        return await flow.Browser.PostAsync(path, new FormUrlEncodedContent(fields));
    }

    private static Task<HttpResponseMessage> UserInfoAsync(HttpClient api, string accessToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/connect/userinfo");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return api.SendAsync(request);
    }

    private static List<string> Reasons(IEnumerable<SecurityEvent> events) => events
        .Where(item => item.Type == SecurityEventTypes.LoginFailed)
        .Select(item => JsonDocument.Parse(item.Data).RootElement.GetProperty("reason").GetString()!)
        .ToList();
}
