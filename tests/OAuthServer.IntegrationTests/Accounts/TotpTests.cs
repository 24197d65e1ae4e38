using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Accounts;
using OAuthServer.Accounts.Factors;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.IntegrationTests.Infrastructure;
using OtpNet;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>
/// TOTP (RFC 6238) as a second factor over HTTP, through the real pipeline: enrolment from the account page, the
/// sign-in's second step, single use within the window, the pending sign-in's limits, and the lockout it shares with
/// the password.
/// </summary>
public sealed class TotpTests(TotpClockServer server) : IClassFixture<TotpClockServer>
{
    [Fact]
    public async Task An_app_is_enrolled_from_the_account_page_shown_once_and_confirmed_by_its_first_code()
    {
        var email = await server.CreateUserAsync();
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);
        var setup = await browser.PostAsync("/account/totp/setup", new() { ["returnUrl"] = "/account" });
        var html = await setup.Content.ReadAsStringAsync();

        setup.StatusCode.Should().Be(HttpStatusCode.OK);
        setup.Headers.CacheControl!.NoStore.Should().BeTrue("the key is shown once and must not be cached");
        html.Should().Contain("<svg class=\"qr\"").And.Contain("otpauth://totp/").And.Contain("autocomplete=\"one-time-code\"");
        var secret = TotpSteps.SecretOf(html);
        secret.Should().HaveCount(20, "a 160-bit secret (RFC 4226 §4)");
        (await browser.PageHtmlAsync()).Should().NotContain("totp-secret", "the account page never shows the key again");

        var wrong = BrowserFlow.HiddenFields(html);
        wrong["code"] = "000000" == TotpSteps.Code(secret, server.Clock.GetUtcNow()) ? "111111" : "000000";
        (await browser.Client.PostAsync("/account/totp/confirm", new FormUrlEncodedContent(wrong))).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var early = await browser.PostAsync("/account/recovery-codes");
        early.StatusCode.Should().Be(HttpStatusCode.Redirect);
        early.Headers.Location!.ToString().Should().Be("/account", "an unconfirmed app is no factor: there are no codes to make");

        var fields = BrowserFlow.HiddenFields(html);
        fields["code"] = TotpSteps.Code(secret, server.Clock.GetUtcNow());
        var confirmed = await browser.Client.PostAsync("/account/totp/confirm", new FormUrlEncodedContent(fields));
        confirmed.StatusCode.Should().Be(HttpStatusCode.OK);
        TotpSteps.RecoveryCodesOf(await confirmed.Content.ReadAsStringAsync()).Should().HaveCount(10).And.OnlyHaveUniqueItems();

        (await browser.PageHtmlAsync()).Should().Contain("Your authenticator app is set up").And.Contain("10 of 10 recovery codes left");
        var again = await browser.PostAsync("/account/recovery-codes");
        again.StatusCode.Should().Be(HttpStatusCode.OK, "confirming the app stepped this session up, so it may make new codes");
        var user = await server.ReadUserAsync(email);
        var enrolled = (await server.EventsForAsync(user.Id)).Where(item => item.Type == SecurityEventTypes.FactorEnrolled).Select(item => item.Data).ToList();
        enrolled.Should().Contain("{\"method\":\"totp\"}").And.Contain("{\"method\":\"recovery_codes\"}");
    }

    [Fact]
    public async Task A_password_and_a_code_sign_in_to_an_app_whose_code_redeems_for_tokens()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var pkce = Pkce.Create();
        var browser = AccountBrowser.New(server.Issuer);

        var (flow, page) = await TotpSteps.PasswordAsync(server, email, BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce)), browser.Flow);
        browser.SessionCookie.Should().BeNull("a password alone starts no session");
        browser.Cookies.GetAllCookies().Should().NotContain(cookie => cookie.Name == "oauthserver.device", "the device cookie waits for the whole sign-in");
        var html = await page.Content.ReadAsStringAsync();
        html.Should().Contain("inputmode=\"numeric\"").And.Contain("autocomplete=\"one-time-code\"").And.Contain("name=\"method\" value=\"recovery\"");

        var verified = await TotpSteps.SubmitAsync(flow, page, "totp", TotpSteps.Code(enrolled.Secret, server.NextStep()));

        verified.StatusCode.Should().Be(HttpStatusCode.Redirect, await verified.Content.ReadAsStringAsync());
        verified.Headers.Location!.ToString().Should().StartWith("/connect/authorize");
        browser.SessionCookie.Should().NotBeNull();
        browser.Cookies.GetAllCookies().Should().Contain(cookie => cookie.Name == "oauthserver.device");
        var toClient = await flow.FollowAsync(verified.Headers.Location!.ToString());
        var code = BrowserFlow.Query(toClient.Headers.Location!)["code"];
        using var api = server.CreateApiClient();
        var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, code, pkce.Verifier)).ShouldSucceedAsync();
        tokens.GetProperty("access_token").GetString().Should().NotBeNullOrEmpty();
        var user = await server.ReadUserAsync(email);
        (await server.EventsForAsync(user.Id)).Should().Contain(item => item.Type == SecurityEventTypes.FactorVerified && item.Data == "{\"method\":\"totp\"}");
    }

    [Fact]
    public async Task A_code_is_refused_the_second_time_within_its_window_and_so_is_an_older_one()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var now = server.NextStep();
        var (first, firstPage) = await TotpSteps.PasswordAsync(server, email);
        (await TotpSteps.SubmitAsync(first, firstPage, "totp", TotpSteps.Code(enrolled.Secret, now))).StatusCode.Should().Be(HttpStatusCode.Redirect);

        var (second, secondPage) = await TotpSteps.PasswordAsync(server, email);
        var replayed = await TotpSteps.SubmitAsync(second, secondPage, "totp", TotpSteps.Code(enrolled.Secret, now));
        replayed.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "RFC 6238 §5.2: a code is accepted once");
        TotpSteps.StartedSession(replayed).Should().BeFalse();
        (await replayed.Content.ReadAsStringAsync()).Should().Contain("role=\"alert\"").And.Contain("autofocus");

        // The step before is still inside the ±1 window, but older than the step just used: refused too.
        var older = await TotpSteps.SubmitAsync(second, secondPage, "totp", TotpSteps.Code(enrolled.Secret, now.AddSeconds(-30)));
        older.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        // Two steps ahead is outside the window.
        var ahead = await TotpSteps.SubmitAsync(second, secondPage, "totp", TotpSteps.Code(enrolled.Secret, now.AddSeconds(60)));
        ahead.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        var user = await server.ReadUserAsync(email);
        (await server.EventsForAsync(user.Id)).Count(item => item.Type == SecurityEventTypes.FactorFailed).Should().Be(3);
        (await TotpSteps.SubmitAsync(second, secondPage, "totp", TotpSteps.Code(enrolled.Secret, now.AddSeconds(30)))).StatusCode.Should().Be(HttpStatusCode.Redirect,
            "the next step's code still works");
    }

    [Fact]
    public async Task Wrong_codes_lock_the_account_like_wrong_passwords()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var (flow, page) = await TotpSteps.PasswordAsync(server, email);
        var right = TotpSteps.Code(enrolled.Secret, server.NextStep());
        var wrong = right == "123456" ? "654321" : "123456";

        for (var attempt = 0; attempt < 5; attempt++)
        {
            (await TotpSteps.SubmitAsync(flow, page, "totp", wrong)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        var refused = await TotpSteps.SubmitAsync(flow, page, "totp", right);
        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the lock holds for the right code too");
        (await refused.Content.ReadAsStringAsync()).Should().Contain("Too many wrong attempts");
        var user = await server.ReadUserAsync(email);
        user.LockedUntil.Should().BeAfter(server.Clock.GetUtcNow().UtcDateTime);
        var events = await server.EventsForAsync(user.Id);
        events.Should().ContainSingle(item => item.Type == SecurityEventTypes.AccountLocked);
        events.Count(item => item.Type == SecurityEventTypes.FactorFailed && item.Data.Contains("wrong_code")).Should().Be(5);
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the password form shares the lock");
        // Recovery codes spend the same budget.
        (await TotpSteps.SubmitAsync(flow, page, "recovery", enrolled.RecoveryCodes[0])).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await server.ReadUserAsync(email)).LockedUntil.Should().Be(user.LockedUntil);
    }

    [Fact]
    public async Task A_correct_password_buys_no_fresh_round_of_code_guesses()
    {
        // The attacker knows the password, not the app: each round is a correct password from a new browser and one
        // wrong code. Were the password's success to reset the budget, this would never lock.
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var right = TotpSteps.Code(enrolled.Secret, server.NextStep());
        var wrong = right == "123456" ? "654321" : "123456";
        for (var round = 0; round < 5; round++)
        {
            // PasswordAsync asserts that the password was right: it led to the second step.
            var (flow, page) = await TotpSteps.PasswordAsync(server, email);
            (await TotpSteps.SubmitAsync(flow, page, "totp", wrong)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        var user = await server.ReadUserAsync(email);
        user.LockedUntil.Should().BeAfter(server.Clock.GetUtcNow().UtcDateTime, "five wrong codes lock, however many right passwords came between");
        (await server.EventsForAsync(user.Id)).Should().ContainSingle(item => item.Type == SecurityEventTypes.AccountLocked);
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the password form shares the lock");
    }

    [Fact]
    public async Task A_strangers_wrong_codes_leave_the_owners_trusted_browser_signing_in()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var owner = AccountBrowser.New(server.Issuer);
        var (ownerFlow, ownerPage) = await TotpSteps.PasswordAsync(server, email, flow: owner.Flow);
        (await TotpSteps.SubmitAsync(ownerFlow, ownerPage, "totp", TotpSteps.Code(enrolled.Secret, server.NextStep()))).StatusCode.Should().Be(HttpStatusCode.Redirect);
        var userId = (await server.ReadUserAsync(email)).Id;
        var succeededBefore = (await server.EventsForAsync(userId)).Count(item => item.Type == SecurityEventTypes.LoginSucceeded);

        // The stranger knows the password, not the app.
        var (stranger, strangerPage) = await TotpSteps.PasswordAsync(server, email);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            await TotpSteps.SubmitAsync(stranger, strangerPage, "totp", "000001");
        }

        (await server.ReadUserAsync(email)).LockedUntil.Should().BeAfter(server.Clock.GetUtcNow().UtcDateTime, "the stranger's codes locked the account's budget");
        var afterStranger = await server.EventsForAsync(userId);
        afterStranger.Count(item => item.Type == SecurityEventTypes.LoginSucceeded).Should().Be(
            succeededBefore, "the stranger's right password alone is no sign-in");
        afterStranger.Count(item => item.Type == SecurityEventTypes.LoginSecondFactorRequired).Should().Be(2, "each right password said a second factor was still due");
        var (again, againPage) = await TotpSteps.PasswordAsync(server, email, flow: owner.Flow);
        var signedIn = await TotpSteps.SubmitAsync(again, againPage, "totp", TotpSteps.Code(enrolled.Secret, server.NextStep()));
        signedIn.StatusCode.Should().Be(HttpStatusCode.Redirect, "the owner's device has a budget of its own");
        TotpSteps.StartedSession(signedIn).Should().BeTrue();
        var withCode = (await server.EventsForAsync(userId)).Where(item => item.Type == SecurityEventTypes.LoginSucceeded && item.Data.Contains("\"second_factor\":\"otp\"")).ToList();
        withCode.Should().HaveCount(2, "each of the owner's sign-ins succeeded with its code, and only those");
    }

    [Fact]
    public async Task A_pending_sign_in_is_refused_after_five_minutes()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var (flow, page) = await TotpSteps.PasswordAsync(server, email);

        server.Clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));

        var late = await TotpSteps.SubmitAsync(flow, page, "totp", TotpSteps.Code(enrolled.Secret, server.Clock.GetUtcNow()));
        late.StatusCode.Should().Be(HttpStatusCode.Redirect);
        late.Headers.Location!.ToString().Should().StartWith("/account/login?returnUrl=", "the pending sign-in is over: sign in again");
        TotpSteps.StartedSession(late).Should().BeFalse();
        (await flow.Browser.GetAsync(TotpSteps.SecondFactorPath)).Headers.Location!.ToString().Should().StartWith("/account/login");
    }

    [Fact]
    public async Task A_pending_sign_in_is_refused_once_the_security_stamp_changes()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var (flow, page) = await TotpSteps.PasswordAsync(server, email);

        await server.ChangeUserAsync(email, user => user.SecurityStamp = Guid.NewGuid().ToString("N"));

        var after = await TotpSteps.SubmitAsync(flow, page, "totp", TotpSteps.Code(enrolled.Secret, server.NextStep()));
        after.StatusCode.Should().Be(HttpStatusCode.Redirect);
        after.Headers.Location!.ToString().Should().StartWith("/account/login?returnUrl=");
        TotpSteps.StartedSession(after).Should().BeFalse();
    }

    [Fact]
    public async Task A_password_alone_opens_neither_the_account_page_nor_an_authorization()
    {
        var email = await server.CreateUserAsync();
        await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var (flow, _) = await TotpSteps.PasswordAsync(server, email);

        (await flow.Browser.GetAsync("/account")).Headers.Location!.ToString().Should().StartWith("/account/login");
        var authorize = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));
        authorize.StatusCode.Should().Be(HttpStatusCode.OK, "the sign-in form, not a code");
        (await authorize.Content.ReadAsStringAsync()).Should().Contain("name=\"password\"");
    }

    [Fact]
    public async Task An_older_password_only_session_is_stepped_up_in_place_by_a_code()
    {
        var email = await server.CreateUserAsync();
        var before = await AccountBrowser.SignInAsync(server.Issuer, email);
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        (await before.PostAsync("/account/recovery-codes")).Headers.Location!.ToString().Should().StartWith(TotpSteps.SecondFactorPath,
            "this session proved only the password");
        var page = await before.Client.GetAsync(TotpSteps.SecondFactorPath + "?returnUrl=%2Faccount");
        page.StatusCode.Should().Be(HttpStatusCode.OK);

        var stepped = await TotpSteps.SubmitAsync(before.Flow, page, "totp", TotpSteps.Code(enrolled.Secret, server.NextStep()));

        stepped.StatusCode.Should().Be(HttpStatusCode.Redirect);
        stepped.Headers.Location!.ToString().Should().Be("/account");
        (await before.PostAsync("/account/recovery-codes")).StatusCode.Should().Be(HttpStatusCode.OK, "the same session now has a second factor");
    }

    [Fact]
    public async Task Removing_the_app_needs_a_current_code_or_the_password()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var browser = enrolled.Browser;

        (await browser.PostAsync("/account/totp/remove")).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await browser.PostAsync("/account/totp/remove", new() { ["password"] = "not-the-password" })).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await browser.PostAsync("/account/totp/remove", new() { ["code"] = TotpSteps.Code(enrolled.Secret, server.Clock.GetUtcNow()) })).StatusCode
            .Should().Be(HttpStatusCode.Unauthorized, "the confirming code was spent");
        var user = await server.ReadUserAsync(email);
        (await server.WithScopeAsync(services => services.GetRequiredService<SecondFactors>().EnrolledAsync(user.Id, CancellationToken.None))).Totp.Should().BeTrue();

        var removed = await browser.PostAsync("/account/totp/remove", new() { ["code"] = TotpSteps.Code(enrolled.Secret, server.NextStep()) });

        removed.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var factors = await server.WithScopeAsync(services => services.GetRequiredService<SecondFactors>().EnrolledAsync(user.Id, CancellationToken.None));
        factors.Totp.Should().BeFalse();
        factors.RecoveryCodesLeft.Should().Be(0, "with no factor left, the way back to one goes too");
        (await server.EventsForAsync(user.Id)).Should().Contain(item => item.Type == SecurityEventTypes.FactorRemoved && item.Data == "{\"method\":\"totp\"}");
        (await server.LoginAsync(email, TestData.Password)).Headers.Location!.ToString().Should().Be("/account", "a password is enough again");
    }

    [Fact]
    public async Task A_stolen_cookies_wrong_passwords_at_the_removal_lock_the_account_but_not_the_owners_browser()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        // The thief copied the session cookie, not the device cookie of the owner's sign-in (threat model 1.2).
        var thief = enrolled.Browser.Copy(DeviceCookies.CookieName);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            (await thief.PostAsync("/account/totp/remove", new() { ["password"] = $"guess-{attempt}" })).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        var user = await server.ReadUserAsync(email);
        user.LockedUntil.Should().BeAfter(server.Clock.GetUtcNow().UtcDateTime, "the removal spends the account's sign-in budget");
        (await thief.PostAsync("/account/totp/remove", new() { ["password"] = TestData.Password })).StatusCode
            .Should().Be(HttpStatusCode.Unauthorized, "a locked account removes nothing, even for the right password");
        (await server.WithScopeAsync(services => services.GetRequiredService<SecondFactors>().EnrolledAsync(user.Id, CancellationToken.None))).Totp.Should().BeTrue();

        var removed = await enrolled.Browser.PostAsync("/account/totp/remove", new() { ["password"] = TestData.Password });
        removed.StatusCode.Should().Be(HttpStatusCode.Redirect, "the owner's browser has a budget of its own");
        (await server.WithScopeAsync(services => services.GetRequiredService<SecondFactors>().EnrolledAsync(user.Id, CancellationToken.None))).Totp.Should().BeFalse();
    }

    [Fact]
    public async Task The_secret_is_not_in_the_database_in_the_clear_and_a_sealed_secret_moved_to_another_row_does_not_open()
    {
        var victim = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, victim, server.Clock.GetUtcNow());
        var victimId = (await server.ReadUserAsync(victim)).Id;
        var row = await server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<TotpAuthenticator>().AsNoTracking().SingleAsync(item => item.UserId == victimId));

        Contains(row.EncryptedSecret, enrolled.Secret).Should().BeFalse("the secret is sealed");
        var base32 = Base32Encoding.ToString(enrolled.Secret).TrimEnd('=');
        Contains(row.EncryptedSecret, Encoding.ASCII.GetBytes(base32)).Should().BeFalse();
        row.KeyId.Should().Be("1");
        var dump = await server.WithScopeAsync(async services =>
        {
            var db = services.GetRequiredService<OAuthDbContext>();
            var hashes = await db.Set<RecoveryCode>().AsNoTracking().Where(item => item.UserId == victimId).Select(item => item.CodeHash).ToListAsync();
            var events = await db.SecurityEvents.AsNoTracking().Where(item => item.UserId == victimId).Select(item => item.Data).ToListAsync();
            return (hashes, events);
        });
        dump.hashes.Should().HaveCount(10).And.OnlyContain(hash => hash.Length == 32);
        foreach (var code in enrolled.RecoveryCodes)
        {
            dump.hashes.Should().NotContain(hash => Contains(hash, Encoding.ASCII.GetBytes(code.Replace("-", string.Empty, StringComparison.Ordinal))));
        }

        string.Join(' ', dump.events).Should().NotContain(base32).And.NotContain(enrolled.RecoveryCodes[0]);

        // An attacker who can write the database (but has no key) copies the victim's sealed secret onto their own row.
        var attacker = await server.CreateUserAsync();
        var attackerEnrolled = await TotpSteps.EnrolAsync(server, attacker, server.Clock.GetUtcNow());
        var attackerId = (await server.ReadUserAsync(attacker)).Id;
        await server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<TotpAuthenticator>().Where(item => item.UserId == attackerId)
            .ExecuteUpdateAsync(set => set.SetProperty(item => item.EncryptedSecret, row.EncryptedSecret)));
        var (flow, page) = await TotpSteps.PasswordAsync(server, attacker);
        (await TotpSteps.SubmitAsync(flow, page, "totp", TotpSteps.Code(enrolled.Secret, server.NextStep()))).StatusCode
            .Should().Be(HttpStatusCode.Unauthorized, "the sealed secret is bound to its own user");
        attackerEnrolled.Secret.Should().NotEqual(enrolled.Secret);
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
