using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Accounts;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>
/// The self-service account page over HTTP through the real pipeline: the session it sits behind, the password
/// change, the apps with access, the sessions, and the attacks on each (CSRF, a stolen cookie, another user's
/// session id, guessing the current password, racing changes).
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class AccountPageTests(OAuthServerFactory server)
{
    private const string NewPassword = "a-brand-new-passphrase-for-tests";

    [Fact]
    public async Task An_anonymous_browser_is_sent_to_the_login_page_and_comes_back_to_the_account_page()
    {
        var browser = AccountBrowser.New(server.Issuer);
        var response = await browser.PageAsync();
        AccountBrowser.SentToLogin(response).Should().BeTrue();

        var email = await server.CreateUserAsync();
        var signedIn = await AccountBrowser.SignInAsync(server.Issuer, email);
        var html = await signedIn.PageHtmlAsync();
        html.Should().Contain(email).And.Contain("This browser").And.Contain("Signed in</td>", "the sign-in is the newest security event");
        html.Should().Contain("autocomplete=\"current-password\"").And.Contain("autocomplete=\"new-password\"");
    }

    [Theory]
    [InlineData("/account/password")]
    [InlineData("/account/apps/revoke")]
    [InlineData("/account/sessions/end")]
    [InlineData("/account/login")]
    [InlineData("/account/consent")]
    public async Task A_post_with_only_the_antiforgery_token_is_a_page_not_a_server_error(string path)
    {
        var email = await server.CreateUserAsync();
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);

        // Note: with none of the form's fields, minimal APIs bind no form object at all (null, not empty).
        var response = await browser.PostAsync(path);

        ((int)response.StatusCode).Should().BeInRange(400, 499, await response.Content.ReadAsStringAsync());
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/html");
        (await browser.PageAsync()).StatusCode.Should().Be(HttpStatusCode.OK, "nothing was changed or ended");
    }

    [Fact]
    public async Task Changing_the_password_keeps_this_browser_signed_in_and_cuts_off_other_sessions_and_refresh_tokens()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var app = await SignedIn.ForAsync(server, email, clientId, redirectUri);
        using var api = server.CreateApiClient();
        var refreshToken = (await app.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var other = await AccountBrowser.SignInAsync(server.Issuer, email);
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);

        var changed = await browser.PostAsync("/account/password", new() { ["currentPassword"] = TestData.Password, ["newPassword"] = NewPassword });

        changed.StatusCode.Should().Be(HttpStatusCode.Redirect, await changed.Content.ReadAsStringAsync());
        changed.Headers.Location!.ToString().Should().Be("/account?notice=password_changed");
        var notice = await browser.Client.GetAsync(changed.Headers.Location);
        notice.StatusCode.Should().Be(HttpStatusCode.OK, "this browser got a new session");
        (await notice.Content.ReadAsStringAsync()).Should().Contain("Your password was changed");
        AccountBrowser.SentToLogin(await other.PageAsync()).Should().BeTrue("the other browser's session ended with the old password");
        (await api.RefreshAsync(clientId, refreshToken)).StatusCode.Should().Be(HttpStatusCode.BadRequest, "refresh tokens die with the old password");
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await server.LoginAsync(email, NewPassword)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        var user = await server.ReadUserAsync(email);
        (await server.EventsForAsync(user.Id)).Should().ContainSingle(item => item.Type == "password.changed")
            .Which.Data.Should().Contain("self");
    }

    [Fact]
    public async Task A_new_password_that_breaks_the_policy_is_refused_with_the_policy_s_words_and_nothing_changes()
    {
        var email = await server.CreateUserAsync();
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);
        var before = await server.ReadUserAsync(email);

        var refused = await browser.PostAsync("/account/password", new() { ["currentPassword"] = TestData.Password, ["newPassword"] = "short" });

        refused.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var html = await refused.Content.ReadAsStringAsync();
        html.Should().Contain("at least 12 characters").And.Contain("role=\"alert\"");
        (await server.ReadUserAsync(email)).PasswordHash.Should().Be(before.PasswordHash);
        (await server.ReadUserAsync(email)).FailedLoginCount.Should().Be(0, "a refused new password checks nothing");
    }

    [Fact]
    public async Task A_stolen_cookies_wrong_current_passwords_lock_the_account_but_not_the_owners_browser()
    {
        var email = await server.CreateUserAsync();
        var owner = await AccountBrowser.SignInAsync(server.Issuer, email);
        // The thief copied the session cookie, not the device cookie of the owner's sign-in (threat model 1.2).
        var browser = owner.Copy(DeviceCookies.CookieName);

        for (var attempt = 1; attempt <= 5; attempt++)
        {
            var wrong = await browser.PostAsync("/account/password", new() { ["currentPassword"] = "not-the-password-at-all", ["newPassword"] = NewPassword });
            wrong.StatusCode.Should().Be(HttpStatusCode.BadRequest);
            (await wrong.Content.ReadAsStringAsync()).Should().Contain("The current password is not correct.");
        }

        var user = await server.ReadUserAsync(email);
        user.LockedUntil.Should().NotBeNull("five wrong current passwords lock the account's budget like five wrong sign-ins");
        var locked = await browser.PostAsync("/account/password", new() { ["currentPassword"] = TestData.Password, ["newPassword"] = NewPassword });
        locked.StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "while locked the right password is not even checked");
        (await server.ReadUserAsync(email)).PasswordHash.Should().Be(user.PasswordHash);
        var events = await server.EventsForAsync(user.Id);
        events.Count(item => item.Type == "login.failed" && item.Data.Contains("wrong_current_password")).Should().Be(5);
        events.Should().Contain(item => item.Type == "account.locked");
        (await browser.PageHtmlAsync()).Should().Contain("Account locked", "the page shows the lockout in words");

        // The owner's browser, which the account trusts, has a budget of its own.
        var changed = await owner.PostAsync("/account/password", new() { ["currentPassword"] = TestData.Password, ["newPassword"] = NewPassword });
        changed.StatusCode.Should().Be(HttpStatusCode.Redirect, await changed.Content.ReadAsStringAsync());
        (await server.ReadUserAsync(email)).PasswordHash.Should().NotBe(user.PasswordHash);
    }

    [Fact]
    public async Task The_owners_own_wrong_current_passwords_lock_its_browser_and_leave_the_account_open()
    {
        var email = await server.CreateUserAsync();
        var owner = await AccountBrowser.SignInAsync(server.Issuer, email);
        for (var attempt = 1; attempt <= 5; attempt++)
        {
            (await owner.PostAsync("/account/password", new() { ["currentPassword"] = "not-the-password-at-all", ["newPassword"] = NewPassword }))
                .StatusCode.Should().Be(HttpStatusCode.BadRequest);
        }

        (await owner.PostAsync("/account/password", new() { ["currentPassword"] = TestData.Password, ["newPassword"] = NewPassword }))
            .StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "the trusted browser spent its own budget");
        (await server.ReadUserAsync(email)).LockedUntil.Should().BeNull("the account's budget is for every other browser");
        (await AccountBrowser.SignInAsync(server.Issuer, email)).Should().NotBeNull("a new browser still signs in");
    }

    [Fact]
    public async Task Every_post_without_an_antiforgery_token_is_refused_and_changes_nothing()
    {
        var email = await server.CreateUserAsync();
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);
        var other = await AccountBrowser.SignInAsync(server.Issuer, email);
        var before = await server.ReadUserAsync(email);

        foreach (var (path, fields) in new (string, Dictionary<string, string>)[]
        {
            ("/account/password", new() { ["currentPassword"] = TestData.Password, ["newPassword"] = NewPassword }),
            ("/account/sessions/end-all", []),
            ("/account/apps/revoke", new() { ["clientId"] = "x" }),
            ("/account/sessions/end", new() { ["sessionId"] = Guid.NewGuid().ToString("N") }),
        })
        {
            var forged = await browser.PostAsync(path, fields, withToken: false);
            forged.StatusCode.Should().Be(HttpStatusCode.BadRequest, $"{path} without a token is a cross-site request");
        }

        var after = await server.ReadUserAsync(email);
        after.PasswordHash.Should().Be(before.PasswordHash);
        after.SecurityStamp.Should().Be(before.SecurityStamp);
        (await other.PageAsync()).StatusCode.Should().Be(HttpStatusCode.OK, "no session was ended");
    }

    [Fact]
    public async Task Apps_with_access_are_listed_and_a_revoke_kills_the_app_s_refresh_tokens()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var (otherClientId, otherRedirectUri) = await server.CreatePublicClientAsync();
        using var api = server.CreateApiClient();
        var refreshToken = (await (await SignedIn.ForAsync(server, email, clientId, redirectUri)).RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var otherRefreshToken = (await (await SignedIn.ForAsync(server, email, otherClientId, otherRedirectUri)).RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);

        var html = await browser.PageHtmlAsync();
        html.Should().Contain($"value=\"{clientId}\"").And.Contain($"value=\"{otherClientId}\"").And.Contain("offline_access");

        var revoked = await browser.PostAsync("/account/apps/revoke", new() { ["clientId"] = clientId });

        revoked.StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await api.RefreshAsync(clientId, refreshToken)).StatusCode.Should().Be(HttpStatusCode.BadRequest, "the revoked app's refresh token is dead");
        (await api.RefreshAsync(otherClientId, otherRefreshToken)).StatusCode.Should().Be(HttpStatusCode.OK, "the other app keeps its access");
        var after = await browser.PageHtmlAsync();
        after.Should().NotContain($"value=\"{clientId}\"").And.Contain($"value=\"{otherClientId}\"").And.Contain("App access revoked");
        var again = await browser.PostAsync("/account/apps/revoke", new() { ["clientId"] = clientId });
        again.StatusCode.Should().Be(HttpStatusCode.NotFound, "nothing is left to revoke");
    }

    [Fact]
    public async Task Another_user_s_app_is_not_revoked_by_naming_its_client()
    {
        var victim = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        using var api = server.CreateApiClient();
        var refreshToken = (await (await SignedIn.ForAsync(server, victim, clientId, redirectUri)).RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var attacker = await AccountBrowser.SignInAsync(server.Issuer, await server.CreateUserAsync());

        var response = await attacker.PostAsync("/account/apps/revoke", new() { ["clientId"] = clientId });

        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await api.RefreshAsync(clientId, refreshToken)).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Signing_out_another_session_ends_it_and_an_id_of_another_user_s_session_ends_nothing()
    {
        var email = await server.CreateUserAsync();
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);
        var laptop = await AccountBrowser.SignInAsync(server.Issuer, email);
        var stranger = await AccountBrowser.SignInAsync(server.Issuer, await server.CreateUserAsync());
        var user = await server.ReadUserAsync(email);
        var sessions = await SessionsOfAsync(user.Id);
        sessions.Should().HaveCount(2);
        var html = await browser.PageHtmlAsync();
        var otherIds = sessions.Select(row => row.Id.ToString("N")).Where(html.Contains).ToList();
        otherIds.Should().ContainSingle("the page offers to end the other session, and not this one by id");

        var foreign = await stranger.PostAsync("/account/sessions/end", new() { ["sessionId"] = otherIds[0] });
        foreign.StatusCode.Should().Be(HttpStatusCode.NotFound, "the stranger's session can't end this user's");
        (await laptop.PageAsync()).StatusCode.Should().Be(HttpStatusCode.OK);

        var ended = await browser.PostAsync("/account/sessions/end", new() { ["sessionId"] = otherIds[0] });
        ended.StatusCode.Should().Be(HttpStatusCode.Redirect);
        AccountBrowser.SentToLogin(await laptop.PageAsync()).Should().BeTrue("the laptop's session is over");
        (await browser.PageAsync()).StatusCode.Should().Be(HttpStatusCode.OK, "this browser stays signed in");
        (await server.EventsForAsync(user.Id)).Should().Contain(item => item.Type == "session.ended" && item.Data.Contains("ended_by_user"));
    }

    [Fact]
    public async Task After_sign_out_everywhere_a_stolen_copy_of_the_cookie_is_refused_on_the_page_and_at_the_authorization_endpoint()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);
        var thief = browser.Copy();
        (await thief.PageAsync()).StatusCode.Should().Be(HttpStatusCode.OK, "the stolen copy works until the person acts");

        var response = await browser.PostAsync("/account/sessions/end-all");

        AccountBrowser.SentToLogin(response).Should().BeTrue("this browser is signed out too");
        AccountBrowser.SentToLogin(await thief.PageAsync()).Should().BeTrue();
        var authorize = await thief.Client.GetAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));
        authorize.StatusCode.Should().Be(HttpStatusCode.Redirect);
        authorize.Headers.Location!.ToString().Should().Contain("/account/login", "the stolen cookie gets no code");
        var user = await server.ReadUserAsync(email);
        (await SessionsOfAsync(user.Id)).Should().OnlyContain(row => row.EndedAt != null);
    }

    [Fact]
    public async Task Logout_ends_the_session_record_so_a_copy_of_the_cookie_taken_before_is_dead()
    {
        var email = await server.CreateUserAsync();
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);
        var thief = browser.Copy();
        var html = await browser.PageHtmlAsync();
        var token = BrowserFlow.HiddenFields(html).Where(field => field.Key.StartsWith("__RequestVerificationToken", StringComparison.Ordinal)).ToDictionary();

        var logout = await browser.Client.PostAsync("/account/logout", new FormUrlEncodedContent(token));

        logout.StatusCode.Should().Be(HttpStatusCode.OK);
        AccountBrowser.SentToLogin(await thief.PageAsync()).Should().BeTrue("the record ended with the logout");
        var user = await server.ReadUserAsync(email);
        (await server.EventsForAsync(user.Id)).Should().Contain(item => item.Type == "session.ended" && item.Data.Contains("signed_out"));
    }

    [Fact]
    public async Task Of_two_concurrent_password_changes_exactly_one_wins()
    {
        var email = await server.CreateUserAsync();
        var first = await AccountBrowser.SignInAsync(server.Issuer, email);
        var second = await AccountBrowser.SignInAsync(server.Issuer, email);
        // Note: both forms are read before either is sent: a change that wins first ends the other session, and a
        // page read after that would be the login redirect, with no form to race.
        var form1 = await PasswordFormAsync(first, NewPassword + "-one");
        var form2 = await PasswordFormAsync(second, NewPassword + "-two");

        var results = await Task.WhenAll(
            first.Client.PostAsync("/account/password", new FormUrlEncodedContent(form1)),
            second.Client.PostAsync("/account/password", new FormUrlEncodedContent(form2)));

        results.Count(response => response.StatusCode == HttpStatusCode.Redirect && response.Headers.Location!.ToString().Contains("password_changed"))
            .Should().Be(1, string.Join(", ", results.Select(response => $"{(int)response.StatusCode} {response.Headers.Location}")));
        var works = new List<string>();
        foreach (var candidate in new[] { NewPassword + "-one", NewPassword + "-two", TestData.Password })
        {
            if ((await server.LoginAsync(email, candidate)).StatusCode == HttpStatusCode.Redirect)
            {
                works.Add(candidate);
            }
        }

        works.Should().ContainSingle();
        var user = await server.ReadUserAsync(email);
        (await server.EventsForAsync(user.Id)).Count(item => item.Type == "password.changed").Should().Be(1);
    }

    [Fact]
    public async Task The_pruner_drops_ended_and_expired_session_records_and_keeps_live_ones()
    {
        var email = await server.CreateUserAsync();
        var live = await AccountBrowser.SignInAsync(server.Issuer, email);
        var ended = await AccountBrowser.SignInAsync(server.Issuer, email);
        await ended.PostAsync("/account/sessions/end-all");
        var liveAgain = await AccountBrowser.SignInAsync(server.Issuer, email);
        var user = await server.ReadUserAsync(email);

        await server.WithScopeAsync(async services =>
        {
            var task = services.GetServices<IPruningTask>().OfType<SessionRecordPruningTask>().Single();
            return await task.PruneAsync(DateTimeOffset.UtcNow.AddDays(1).AddMinutes(1), services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PruningOptions>>().Value, default);
        });

        var left = await SessionsOfAsync(user.Id);
        left.Should().ContainSingle("the two ended records went, the live one stays")
            .Which.EndedAt.Should().BeNull();
        (await liveAgain.PageAsync()).StatusCode.Should().Be(HttpStatusCode.OK);
        AccountBrowser.SentToLogin(await live.PageAsync()).Should().BeTrue();
    }

    private Task<List<SessionRecord>> SessionsOfAsync(Guid userId) =>
        server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<SessionRecord>().AsNoTracking()
            .Where(row => row.UserId == userId).ToListAsync());

    private static async Task<Dictionary<string, string>> PasswordFormAsync(AccountBrowser browser, string newPassword)
    {
        var form = BrowserFlow.HiddenFields(await browser.PageHtmlAsync())
            .Where(field => field.Key.StartsWith("__RequestVerificationToken", StringComparison.Ordinal)).ToDictionary();
        form.Should().NotBeEmpty("the page carries an antiforgery token");
        form["currentPassword"] = TestData.Password;
        form["newPassword"] = newPassword;
        return form;
    }
}
