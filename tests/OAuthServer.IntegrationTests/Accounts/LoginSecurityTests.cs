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
        // The counter listens to this server's meters only, and the shared server runs one test at a time (its
        // collection), so it sees this test's logins only.
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
        response.Headers.Location!.ToString().Should().Be(OAuthServer.Protocol.ProtocolPaths.Account);
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
