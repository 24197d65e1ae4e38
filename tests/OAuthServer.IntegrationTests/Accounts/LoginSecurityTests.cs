using System.Net;
using System.Text.RegularExpressions;
using OAuthServer.Accounts;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>Threat model 1.2, 1.3 and 4.2 on the shared PostgreSQL server (default lockout: 5 failures).</summary>
[Collection(SharedPostgresServer.Name)]
public sealed partial class LoginSecurityTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Unknown_email_wrong_password_locked_and_disabled_look_the_same_and_cost_the_same_work()
    {
        // A server of its own: the hash counter must see this test's logins only.
        await using var server = await CustomServer.StartAsync();
        var known = await server.CreateUserAsync();
        var locked = await server.CreateUserAsync();
        var disabled = await server.CreateUserAsync();
        await server.ChangeUserAsync(locked, user => user.LockedUntil = DateTime.UtcNow.AddHours(1));
        var operatorLocked = await server.CreateUserAsync();
        await server.ChangeUserAsync(operatorLocked, user => user.Status = AccountStatus.Locked);
        await server.AdministerAsync(disabled, (accounts, id) => accounts.DisableAsync(id, AccountHelpers.TestOrigin));
        using var counter = new HashOperationCounter(server);
        var attempts = new[]
        {
            (TestData.NewEmail(), TestData.Password), // unknown email
            (known, "not-the-password-at-all"),        // wrong password
            (locked, TestData.Password),               // right password, locked
            (disabled, TestData.Password),             // right password, disabled
            (operatorLocked, TestData.Password),       // right password, locked by an operator
        };

        // Note: a second round in reverse order, so the verdict can't hang on which kind of failure comes first: a
        // one-off cost (such as a dummy hash made on first use) would be counted against whichever case ran first.
        var answers = new List<(HttpStatusCode Status, string Body, long Hashes)>();
        foreach (var (email, password) in attempts.Concat(Enumerable.Reverse(attempts)))
        {
            var before = counter.Count;
            var response = await server.LoginAsync(email, password);
            var body = await response.Content.ReadAsStringAsync();
            answers.Add((response.StatusCode, Normalize(body), counter.Count - before));
        }

        answers.Select(answer => answer.Status).Should().AllBeEquivalentTo(HttpStatusCode.Unauthorized);
        answers.Select(answer => answer.Body).Distinct().Should().ContainSingle("every failure renders the same page")
            .Which.Should().Contain(AccountPages.LoginFailedMessage);
        answers.Select(answer => answer.Hashes).Should().AllBeEquivalentTo(1L, "each failure costs exactly one Argon2 verification");
    }

    [Fact]
    public async Task Five_failures_lock_the_account_and_unlock_opens_it_again()
    {
        var email = await server.CreateUserAsync();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            (await server.LoginAsync(email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        var user = await server.ReadUserAsync(email);
        user.LockedUntil.Should().BeCloseTo(DateTime.UtcNow.AddMinutes(1), TimeSpan.FromSeconds(30));
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the right password does not open a locked account");

        (await server.AdministerAsync(email, (accounts, id) => accounts.UnlockAsync(id, AccountHelpers.TestOrigin))).Should().BeNull();

        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        var events = (await server.EventsForAsync(user.Id)).Select(item => item.Type).ToList();
        events.Should().ContainInOrder("login.failed", "account.locked", "account.unlocked", "login.succeeded");
        events.Count(type => type == "account.locked").Should().Be(1);
    }

    [Fact]
    public async Task Success_resets_the_failure_count()
    {
        var email = await server.CreateUserAsync();
        for (var attempt = 0; attempt < 4; attempt++)
        {
            await server.LoginAsync(email, "wrong-password-attempt");
        }

        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        await server.LoginAsync(email, "wrong-password-attempt");

        var user = await server.ReadUserAsync(email);
        user.FailedLoginCount.Should().Be(1);
        user.LockedUntil.Should().BeNull();
    }

    [Fact]
    public async Task Disabled_users_refresh_is_refused()
    {
        var (email, signedIn) = await SignInAsync();
        using var api = server.CreateApiClient();
        var refreshToken = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;

        (await server.AdministerAsync(email, (accounts, id) => accounts.DisableAsync(id, AccountHelpers.TestOrigin))).Should().BeNull();

        await (await api.RefreshAsync(signedIn.ClientId, refreshToken)).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Account_gate_alone_refuses_a_refresh_for_a_user_disabled_behind_its_back()
    {
        // The status is changed directly in the database, so no token is revoked: only the gate stands.
        var (email, signedIn) = await SignInAsync();
        using var api = server.CreateApiClient();
        var refreshToken = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        await server.ChangeUserAsync(email, user => user.Status = AccountStatus.Disabled);

        await (await api.RefreshAsync(signedIn.ClientId, refreshToken)).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Account_gate_refuses_a_code_redemption_for_a_user_locked_by_an_operator_after_authorize()
    {
        var (email, signedIn) = await SignInAsync();
        await server.ChangeUserAsync(email, user => user.Status = AccountStatus.Locked);
        using var api = server.CreateApiClient();

        var response = await api.RedeemCodeAsync(signedIn.ClientId, signedIn.RedirectUri, signedIn.Code, signedIn.Pkce.Verifier);

        await response.ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Password_reset_kills_existing_refresh_tokens_and_browser_sessions()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var signedIn = await SignedIn.ForAsync(server, email, clientId, redirectUri);
        var flow = signedIn.Flow!;
        using var api = server.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(api);

        (await server.AdministerAsync(email, (accounts, id) => accounts.SetPasswordAsync(id, "a-brand-new-passphrase-77", AccountHelpers.TestOrigin))).Should().BeNull();

        await (await api.RefreshAsync(clientId, tokens.GetProperty("refresh_token").GetString()!)).ShouldFailWithAsync("invalid_grant");
        var again = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));
        again.StatusCode.Should().Be(HttpStatusCode.OK, "the old session cookie no longer signs the user in");
        (await again.Content.ReadAsStringAsync()).Should().Contain("action=\"/account/login\"");
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await server.LoginAsync(email, "a-brand-new-passphrase-77")).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    [Theory]
    [InlineData("https://evil.example/steal")]
    [InlineData("//evil.example/steal")]
    [InlineData("/\\evil.example/steal")]
    [InlineData("/\tjavascript:alert(1)")]
    public async Task Login_never_redirects_to_a_foreign_return_url(string returnUrl)
    {
        var email = await server.CreateUserAsync();
        var flow = new BrowserFlow(server);
        var page = await flow.FollowAsync("/account/login?returnUrl=" + Uri.EscapeDataString(returnUrl));
        var fields = BrowserFlow.HiddenFields(await page.Content.ReadAsStringAsync());
        fields["returnUrl"] = returnUrl; // also tamper with the hidden field
        fields["email"] = email;
        fields["password"] = TestData.Password;

        var response = await flow.Browser.PostAsync("/account/login", new FormUrlEncodedContent(fields));

        response.StatusCode.Should().Be(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().Should().Be("/");
    }

    [Fact]
    public async Task Parallel_failures_lose_no_increment()
    {
        // A long acquire timeout: every attempt must reach the password check, none may be refused as busy.
        await using var node = await CustomServer.StartAsync(new() { ["Lockout:MaxFailures"] = "1000", ["Argon2:AcquireTimeout"] = "00:01:00" });
        var email = await node.CreateUserAsync();

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => node.LoginAsync(email, "wrong-password-attempt")));

        responses.Should().OnlyContain(response => response.StatusCode == HttpStatusCode.Unauthorized);
        (await node.ReadUserAsync(email)).FailedLoginCount.Should().Be(12);
    }

    [Fact]
    public async Task Parallel_failures_past_the_limit_lock_exactly_once()
    {
        await using var server = await CustomServer.StartAsync(new() { ["Argon2:AcquireTimeout"] = "00:01:00" });
        var email = await server.CreateUserAsync();
        var user = await server.ReadUserAsync(email);

        await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => server.LoginAsync(email, "wrong-password-attempt")));

        (await server.ReadUserAsync(email)).LockedUntil.Should().NotBeNull();
        (await server.EventsForAsync(user.Id)).Count(item => item.Type == "account.locked").Should().Be(1);
    }

    private async Task<(string Email, SignedIn SignedIn)> SignInAsync()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        return (email, await SignedIn.ForAsync(server, email, clientId, redirectUri));
    }

    // The antiforgery token and the echoed email differ per request; everything else must be identical.
    private static string Normalize(string html) =>
        EmailField().Replace(AntiforgeryField().Replace(html, "value=\"TOKEN\""), "value=\"EMAIL\"");

    [GeneratedRegex("(?<=name=\"__RequestVerificationToken\" )value=\"[^\"]*\"")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("(?<=type=\"email\" autocomplete=\"username\" required )value=\"[^\"]*\"")]
    private static partial Regex EmailField();
}
