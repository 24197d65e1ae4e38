using Microsoft.Extensions.Configuration;
using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OAuthServer.Accounts.Factors;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>A server on PostgreSQL whose clock the tests move (challenge expiry, the recent sign-in for registration).</summary>
public sealed class PasskeyServerFixture : IAsyncLifetime
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    public CustomServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await CustomServer.StartAsync(services: services => services.AddSingleton<TimeProvider>(Clock));

    public async Task DisposeAsync()
    {
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }
}

/// <summary>
/// Passkeys over HTTP with a software authenticator (WebAuthn Level 3 §7.1, §7.2): what is stored at registration, a
/// username-less sign-in, and every attack on an assertion the server must refuse.
/// </summary>
public sealed class PasskeyCeremonyTests(PasskeyServerFixture fixture) : IClassFixture<PasskeyServerFixture>
{
    private CustomServer Server => fixture.Server;

    private async Task<(string Email, AccountBrowser Browser, SoftwareAuthenticator Authenticator)> EnrolledAsync(bool backupEligible = false)
    {
        var email = await Server.CreateUserAsync();
        var browser = await AccountBrowser.SignInAsync(Server.Issuer, email);
        var authenticator = new SoftwareAuthenticator(PasskeyHttp.OriginOf(Server), backupEligible: backupEligible);
        var registered = await PasskeyHttp.RegisterAsync(browser.Client, authenticator);
        registered.StatusCode.Should().Be(HttpStatusCode.OK, await registered.Content.ReadAsStringAsync());
        return (email, browser, authenticator);
    }

    private Task<List<Passkey>> PasskeysOfAsync(Guid userId) =>
        Server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<Passkey>().AsNoTracking().Where(row => row.UserId == userId).ToListAsync());

    private async Task<List<SecurityEvent>> EventsAsync(string email, string type) =>
        [.. (await Server.EventsForAsync((await Server.ReadUserAsync(email)).Id)).Where(item => item.Type == type)];

    [Fact]
    public async Task A_registered_passkey_is_stored_with_a_random_user_handle_its_counter_and_backup_flags()
    {
        var (email, browser, authenticator) = await EnrolledAsync(backupEligible: true);
        var user = await Server.ReadUserAsync(email);

        var passkey = (await PasskeysOfAsync(user.Id)).Should().ContainSingle().Subject;
        passkey.CredentialId.Should().Equal(authenticator.CredentialId);
        passkey.UserHandle.Should().HaveCount(32).And.NotEqual(System.Text.Encoding.UTF8.GetBytes(email), "the user handle is random, never the email");
        passkey.IsBackupEligible.Should().BeTrue();
        passkey.IsBackedUp.Should().BeTrue();
        passkey.SignCount.Should().Be(0);
        passkey.Name.Should().Be("Test key");
        var enrolled = (await EventsAsync(email, SecurityEventTypes.FactorEnrolled)).Should().ContainSingle().Subject;
        JsonDocument.Parse(enrolled.Data).RootElement.GetProperty("method").GetString().Should().Be("passkey");

        // Note: the second registration excludes the first key and reuses the account's user handle.
        var token = await PasskeyHttp.TokenAsync(browser.Client, "/account");
        var (options, _) = await PasskeyHttp.BeginAsync(browser.Client, "/account/passkeys/options", token);
        options.GetProperty("excludeCredentials").EnumerateArray().Select(item => item.GetProperty("id").GetString())
            .Should().ContainSingle().Which.Should().Be(System.Buffers.Text.Base64Url.EncodeToString(authenticator.CredentialId));
        options.GetProperty("authenticatorSelection").GetProperty("residentKey").GetString().Should().Be("required");
        options.GetProperty("authenticatorSelection").GetProperty("userVerification").GetString().Should().Be("required");
        options.GetProperty("attestation").GetString().Should().Be("none");
        options.GetProperty("user").GetProperty("id").GetString().Should().Be(System.Buffers.Text.Base64Url.EncodeToString(passkey.UserHandle));
    }

    [Fact]
    public async Task A_passkey_signs_in_without_a_username_and_the_session_carries_swk_or_hwk_and_mfa()
    {
        var (email, _, authenticator) = await EnrolledAsync();
        var person = AccountBrowser.New(Server.Issuer);

        var signedIn = await PasskeyHttp.SignInAsync(person.Client, authenticator, "/connect/authorize?client_id=x");

        signedIn.StatusCode.Should().Be(HttpStatusCode.OK, await signedIn.Content.ReadAsStringAsync());
        JsonDocument.Parse(await signedIn.Content.ReadAsStringAsync()).RootElement.GetProperty("redirect").GetString().Should().Be("/connect/authorize?client_id=x");
        PasskeyHttp.MethodsOf(Server, person.Cookies).Should().BeEquivalentTo(["hwk", "mfa"], "a device-bound key is a hardware key, and user-verified it is two factors");
        (await person.PageAsync()).StatusCode.Should().Be(HttpStatusCode.OK, "the session is current");
        var passkey = (await PasskeysOfAsync((await Server.ReadUserAsync(email)).Id)).Single();
        passkey.SignCount.Should().Be(1);
        passkey.LastUsedAt.Should().NotBeNull();
        (await EventsAsync(email, SecurityEventTypes.FactorVerified)).Should().ContainSingle();

        var synced = await EnrolledAsync(backupEligible: true);
        var other = AccountBrowser.New(Server.Issuer);
        (await PasskeyHttp.SignInAsync(other.Client, synced.Authenticator)).StatusCode.Should().Be(HttpStatusCode.OK);
        PasskeyHttp.MethodsOf(Server, other.Cookies).Should().BeEquivalentTo(["swk", "mfa"], "a synced key is a software key");
    }

    [Fact]
    public async Task An_open_redirect_is_not_where_a_passkey_sign_in_ends()
    {
        var (_, _, authenticator) = await EnrolledAsync();
        var signedIn = await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, authenticator, "//evil.example/steal");
        JsonDocument.Parse(await signedIn.Content.ReadAsStringAsync()).RootElement.GetProperty("redirect").GetString().Should().Be("/account");
    }

    [Fact]
    public async Task An_assertion_made_for_another_origin_is_refused()
    {
        var (email, _, authenticator) = await EnrolledAsync();
        authenticator.Origin = "https://phishing.example";
        var person = AccountBrowser.New(Server.Issuer);

        var refused = await PasskeyHttp.SignInAsync(person.Client, authenticator);

        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await PasskeyHttp.ErrorOf(refused)).Should().Be("failed");
        person.SessionCookie.Should().BeNull();
        (await EventsAsync(email, SecurityEventTypes.FactorFailed)).Select(item => JsonDocument.Parse(item.Data).RootElement.GetProperty("reason").GetString())
            .Should().Contain("wrong_origin");
    }

    [Fact]
    public async Task An_assertion_for_another_relying_party_id_is_refused()
    {
        var (email, _, authenticator) = await EnrolledAsync();
        authenticator.RpId = "evil.example";

        var refused = await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, authenticator);

        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await EventsAsync(email, SecurityEventTypes.FactorFailed)).Select(item => JsonDocument.Parse(item.Data).RootElement.GetProperty("reason").GetString())
            .Should().Contain("wrong_rp_id");
    }

    [Fact]
    public async Task An_assertion_without_user_verification_is_refused()
    {
        var (email, _, authenticator) = await EnrolledAsync();
        authenticator.VerifiesUser = false;

        var refused = await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, authenticator);

        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await EventsAsync(email, SecurityEventTypes.FactorFailed)).Select(item => JsonDocument.Parse(item.Data).RootElement.GetProperty("reason").GetString())
            .Should().Contain("user_verification");
    }

    [Fact]
    public async Task A_credential_nobody_registered_is_refused()
    {
        using var stranger = new SoftwareAuthenticator(PasskeyHttp.OriginOf(Server));
        var refused = await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, stranger);
        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await PasskeyHttp.ErrorOf(refused)).Should().Be("unknown_credential");
    }

    [Fact]
    public async Task A_challenge_answered_twice_is_refused_the_second_time()
    {
        var (_, _, authenticator) = await EnrolledAsync();
        var person = AccountBrowser.New(Server.Issuer);
        var token = await PasskeyHttp.TokenAsync(person.Client, "/account/login");
        var (options, state) = await PasskeyHttp.BeginAsync(person.Client, "/account/login/passkey/options", token);
        var credential = authenticator.Assert(options);

        (await PasskeyHttp.PostAsync(person.Client, "/account/login/passkey", token, new { state, credential })).StatusCode.Should().Be(HttpStatusCode.OK);
        // Note: replayed from another browser, as someone who captured the request would (with an antiforgery token of
        // their own: this browser's token belonged to it while it was anonymous).
        var attacker = AccountBrowser.New(Server.Issuer);
        var attackerToken = await PasskeyHttp.TokenAsync(attacker.Client, "/account/login");
        var replay = await PasskeyHttp.PostAsync(attacker.Client, "/account/login/passkey", attackerToken, new { state, credential });

        replay.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await PasskeyHttp.ErrorOf(replay)).Should().Be("replayed_challenge");
        attacker.SessionCookie.Should().BeNull();
    }

    [Fact]
    public async Task A_challenge_past_its_lifetime_is_refused()
    {
        var (_, _, authenticator) = await EnrolledAsync();
        var person = AccountBrowser.New(Server.Issuer);
        var token = await PasskeyHttp.TokenAsync(person.Client, "/account/login");
        var (options, state) = await PasskeyHttp.BeginAsync(person.Client, "/account/login/passkey/options", token);

        fixture.Clock.Advance(TimeSpan.FromMinutes(3) + TimeSpan.FromSeconds(1));
        var late = await PasskeyHttp.PostAsync(person.Client, "/account/login/passkey", token, new { state, credential = authenticator.Assert(options) });

        late.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await PasskeyHttp.ErrorOf(late)).Should().Be("expired_challenge");
        person.SessionCookie.Should().BeNull();
    }

    [Fact]
    public async Task A_cloned_authenticator_whose_counter_does_not_move_forward_is_refused_with_an_event()
    {
        var (email, _, original) = await EnrolledAsync();
        (await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, original)).StatusCode.Should().Be(HttpStatusCode.OK);
        using var clone = original.Clone();
        (await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, original)).StatusCode.Should().Be(HttpStatusCode.OK, "the owner's key moves on to 2");

        var person = AccountBrowser.New(Server.Issuer);
        var refused = await PasskeyHttp.SignInAsync(person.Client, clone);

        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        person.SessionCookie.Should().BeNull();
        var detected = (await EventsAsync(email, SecurityEventTypes.PasskeyCloneDetected)).Should().ContainSingle().Subject;
        var data = JsonDocument.Parse(detected.Data).RootElement;
        data.GetProperty("stored_count").GetInt64().Should().Be(2);
        data.GetProperty("presented_count").GetInt64().Should().Be(2);
        var passkey = (await PasskeysOfAsync((await Server.ReadUserAsync(email)).Id)).Single();
        data.GetProperty("passkey_id").GetGuid().Should().Be(passkey.Id);
        passkey.SignCount.Should().Be(2, "a refused assertion leaves the counter where it was");
    }

    [Fact]
    public async Task A_counter_that_falls_back_to_zero_is_a_clone_but_a_key_that_never_counts_is_not()
    {
        var (email, _, counting) = await EnrolledAsync();
        (await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, counting)).StatusCode.Should().Be(HttpStatusCode.OK);
        counting.CountsSignatures = false;
        counting.Counter = 0;
        (await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, counting)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "stored 1, presented 0");
        (await EventsAsync(email, SecurityEventTypes.PasskeyCloneDetected)).Should().ContainSingle();

        var (_, _, neverCounts) = await EnrolledAsync(backupEligible: true);
        neverCounts.CountsSignatures = false;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            (await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, neverCounts)).StatusCode
                .Should().Be(HttpStatusCode.OK, "WebAuthn §6.1.1: both counters zero means the authenticator keeps none");
        }
    }

    [Fact]
    public async Task Sixteen_parallel_answers_to_one_challenge_give_at_most_one_session()
    {
        var (_, _, authenticator) = await EnrolledAsync();
        var person = AccountBrowser.New(Server.Issuer);
        var token = await PasskeyHttp.TokenAsync(person.Client, "/account/login");
        var (options, state) = await PasskeyHttp.BeginAsync(person.Client, "/account/login/passkey/options", token);
        var credential = authenticator.Assert(options);

        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ =>
            PasskeyHttp.PostAsync(person.Client, "/account/login/passkey", token, new { state, credential })));

        answers.Count(answer => answer.StatusCode == HttpStatusCode.OK).Should().Be(1);
        answers.Count(answer => answer.StatusCode == HttpStatusCode.Unauthorized).Should().Be(15);
    }

    [Fact]
    public async Task A_disabled_account_gets_no_session_from_its_passkey()
    {
        var (email, _, authenticator) = await EnrolledAsync();
        (await Server.AdministerAsync(email, (accounts, id) => accounts.DisableAsync(id, AccountHelpers.TestOrigin))).Should().BeNull();
        var person = AccountBrowser.New(Server.Issuer);

        var refused = await PasskeyHttp.SignInAsync(person.Client, authenticator);

        refused.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await PasskeyHttp.ErrorOf(refused)).Should().Be("unknown_credential", "the same answer as an unknown key: the account's state is not told");
        person.SessionCookie.Should().BeNull();
    }

    [Fact]
    public async Task A_passkey_steps_up_a_password_session_and_another_accounts_passkey_does_not()
    {
        var (_, owner, ownKey) = await EnrolledAsync();
        var (_, _, strangerKey) = await EnrolledAsync();
        PasskeyHttp.MethodsOf(Server, owner.Cookies).Should().BeEquivalentTo(["pwd"]);
        var token = await PasskeyHttp.TokenAsync(owner.Client, "/account");

        var (options, state) = await PasskeyHttp.BeginAsync(owner.Client, "/account/login/second-factor/passkey/options", token);
        options.GetProperty("allowCredentials").EnumerateArray().Select(item => item.GetProperty("id").GetString())
            .Should().Equal([System.Buffers.Text.Base64Url.EncodeToString(ownKey.CredentialId)], "a second factor offers only the person's own keys");
        var wrong = await PasskeyHttp.PostAsync(owner.Client, "/account/login/second-factor/passkey", token, new { state, credential = strangerKey.Assert(options) });
        wrong.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        PasskeyHttp.MethodsOf(Server, owner.Cookies).Should().BeEquivalentTo(["pwd"], "another account's key proves nothing about this one");

        (options, state) = await PasskeyHttp.BeginAsync(owner.Client, "/account/login/second-factor/passkey/options", token);
        var stepped = await PasskeyHttp.PostAsync(owner.Client, "/account/login/second-factor/passkey", token, new { state, returnUrl = "/account", credential = ownKey.Assert(options) });
        stepped.StatusCode.Should().Be(HttpStatusCode.OK, await stepped.Content.ReadAsStringAsync());
        PasskeyHttp.MethodsOf(Server, owner.Cookies).Should().BeEquivalentTo(["pwd", "hwk", "mfa"]);
    }

    [Theory]
    [InlineData("/account/login")]
    [InlineData("/ACCOUNT/Login/")]
    public async Task A_person_whose_only_factor_is_a_passkey_gets_no_session_for_the_password_alone(string loginPath)
    {
        var (email, _, _) = await EnrolledAsync();
        var browser = AccountBrowser.New(Server.Issuer);
        var login = await browser.Flow.FollowAsync("/account");
        var fields = BrowserFlow.HiddenFields(await login.Content.ReadAsStringAsync());
        fields["email"] = email;
        fields["password"] = TestData.Password;

        var afterLogin = await browser.Client.PostAsync(loginPath, new FormUrlEncodedContent(fields));

        afterLogin.StatusCode.Should().Be(HttpStatusCode.Redirect, await afterLogin.Content.ReadAsStringAsync());
        afterLogin.Headers.Location!.ToString().Should().StartWith("/account/login/second-factor?", "the passkey is the second step");
        browser.SessionCookie.Should().BeNull("a password alone starts no session");
        (await EventsAsync(email, SecurityEventTypes.LoginSecondFactorRequired)).Should().NotBeEmpty();
    }

    [Fact]
    public async Task A_state_is_good_only_for_its_own_ceremony_and_is_tamper_proof()
    {
        // An attack the design did not list: carrying a sealed state from one ceremony into another.
        var (_, owner, ownKey) = await EnrolledAsync();
        var token = await PasskeyHttp.TokenAsync(owner.Client, "/account");
        var (signInOptions, signInState) = await PasskeyHttp.BeginAsync(owner.Client, "/account/login/passkey/options", token);

        var crossed = await PasskeyHttp.PostAsync(owner.Client, "/account/login/second-factor/passkey", token, new { state = signInState, credential = ownKey.Assert(signInOptions) });
        crossed.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "a sign-in state does not open as a second-factor state");

        var tampered = signInState[..^4] + (signInState[^4] == 'A' ? "B" : "A") + signInState[^3..];
        var forged = await PasskeyHttp.PostAsync(owner.Client, "/account/login/passkey", token, new { state = tampered, credential = ownKey.Assert(signInOptions) });
        forged.StatusCode.Should().Be(HttpStatusCode.Unauthorized);

        var registration = await PasskeyHttp.PostAsync(owner.Client, "/account/passkeys/register", token, new { state = signInState, credential = ownKey.Assert(signInOptions) });
        registration.StatusCode.Should().Be(HttpStatusCode.BadRequest, "nor as a registration state");
    }

    [Fact]
    public async Task Garbage_credentials_are_refused_with_json_not_a_500()
    {
        var (_, owner, _) = await EnrolledAsync();
        var person = AccountBrowser.New(Server.Issuer);
        var token = await PasskeyHttp.TokenAsync(person.Client, "/account/login");
        var (_, state) = await PasskeyHttp.BeginAsync(person.Client, "/account/login/passkey/options", token);
        object[] bodies =
        [
            new { state },
            new { state, credential = new { id = "x", rawId = "!!", type = "public-key", response = new { } } },
            new { state = "not-a-state", credential = new { } },
            new { state = new string('A', 20_000) },
        ];
        foreach (var body in bodies)
        {
            var answer = await PasskeyHttp.PostAsync(person.Client, "/account/login/passkey", token, body);
            answer.StatusCode.Should().Be(HttpStatusCode.Unauthorized, JsonSerializer.Serialize(body)[..Math.Min(80, JsonSerializer.Serialize(body).Length)]);
            answer.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        }

        var noToken = await PasskeyHttp.PostAsync(person.Client, "/account/login/passkey/options", null, null);
        noToken.StatusCode.Should().Be(HttpStatusCode.BadRequest, "the antiforgery token is required");
        var registerWithoutToken = await PasskeyHttp.PostAsync(owner.Client, "/account/passkeys/options", null, null);
        registerWithoutToken.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_old_session_confirms_the_password_before_it_may_add_a_passkey()
    {
        var email = await Server.CreateUserAsync();
        var browser = await AccountBrowser.SignInAsync(Server.Issuer, email);
        fixture.Clock.Advance(TimeSpan.FromMinutes(11));
        using var authenticator = new SoftwareAuthenticator(PasskeyHttp.OriginOf(Server));
        var thief = browser.Copy();

        var token = await PasskeyHttp.TokenAsync(thief.Client, "/account");
        var refused = await PasskeyHttp.PostAsync(thief.Client, "/account/passkeys/options", token, null);
        refused.StatusCode.Should().Be(HttpStatusCode.Forbidden, "a cookie signed in 11 minutes ago can't plant a passkey");
        (await PasskeyHttp.ErrorOf(refused)).Should().Be("reauthenticate");
        (await browser.PageHtmlAsync()).Should().Contain("action=\"/account/passkeys/confirm\"").And.NotContain("data-passkey=\"register\"");

        (await browser.PostAsync("/account/passkeys/confirm", new() { ["password"] = "not-the-password" })).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        var confirmed = await browser.PostAsync("/account/passkeys/confirm", new() { ["password"] = TestData.Password });
        confirmed.StatusCode.Should().Be(HttpStatusCode.Redirect);
        confirmed.Headers.Location!.ToString().Should().Be("/account#passkeys");
        (await PasskeyHttp.RegisterAsync(browser.Client, authenticator)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await thief.PageAsync()).StatusCode.Should().Be(HttpStatusCode.Redirect, "confirming started a new session; the old cookie ended with the old one");
    }

    [Fact]
    public async Task A_strangers_wrong_passwords_at_the_confirmation_lock_the_account_but_not_the_owners_browser()
    {
        var email = await Server.CreateUserAsync();
        var owner = await AccountBrowser.SignInAsync(Server.Issuer, email);
        fixture.Clock.Advance(TimeSpan.FromMinutes(11));
        // The thief copied the session cookie, not the device cookie the owner's sign-in left (threat model 1.2).
        var thief = owner.Copy(OAuthServer.Accounts.DeviceCookies.CookieName);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            (await thief.PostAsync("/account/passkeys/confirm", new() { ["password"] = $"guess-{attempt}" })).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        (await Server.ReadUserAsync(email)).LockedUntil.Should().BeAfter(fixture.Clock.GetUtcNow().UtcDateTime, "the confirmation spends the account's sign-in budget");
        var right = await thief.PostAsync("/account/passkeys/confirm", new() { ["password"] = TestData.Password });
        right.StatusCode.Should().NotBe(HttpStatusCode.Redirect, "a locked account confirms nothing, even with the right password");
        var stranger = AccountBrowser.New(Server.Issuer);
        var login = await stranger.Flow.SubmitLoginAsync(await stranger.Flow.FollowAsync("/account"), email, TestData.Password);
        (login.StatusCode == HttpStatusCode.Redirect && login.Headers.Location!.ToString() == "/account").Should().BeFalse("the lockout holds at the sign-in page too");

        var confirmed = await owner.PostAsync("/account/passkeys/confirm", new() { ["password"] = TestData.Password });
        confirmed.StatusCode.Should().Be(HttpStatusCode.Redirect, "the owner's browser has a budget of its own");
        confirmed.Headers.Location!.ToString().Should().Be("/account#passkeys");
    }

    [Fact]
    public async Task A_person_removes_their_own_passkey_but_not_someone_elses()
    {
        var (email, browser, authenticator) = await EnrolledAsync();
        var (otherEmail, _, _) = await EnrolledAsync();
        var theirs = (await PasskeysOfAsync((await Server.ReadUserAsync(otherEmail)).Id)).Single();
        var mine = (await PasskeysOfAsync((await Server.ReadUserAsync(email)).Id)).Single();

        (await browser.PostAsync("/account/passkeys/remove", new() { ["passkeyId"] = theirs.Id.ToString("N") })).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await PasskeysOfAsync((await Server.ReadUserAsync(otherEmail)).Id)).Should().ContainSingle();

        var removed = await browser.PostAsync("/account/passkeys/remove", new() { ["passkeyId"] = mine.Id.ToString("N") });
        removed.StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await PasskeysOfAsync(mine.UserId)).Should().BeEmpty();
        (await EventsAsync(email, SecurityEventTypes.FactorRemoved)).Should().ContainSingle();
        (await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, authenticator)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task An_old_session_confirms_the_password_before_it_may_remove_a_passkey()
    {
        var (email, browser, authenticator) = await EnrolledAsync();
        var mine = (await PasskeysOfAsync((await Server.ReadUserAsync(email)).Id)).Single();
        fixture.Clock.Advance(TimeSpan.FromMinutes(11));
        var thief = browser.Copy();

        var refused = await thief.PostAsync("/account/passkeys/remove", new() { ["passkeyId"] = mine.Id.ToString("N") });
        refused.StatusCode.Should().Be(HttpStatusCode.Forbidden, "a cookie signed in 11 minutes ago can't strip a sign-in method");
        (await refused.Content.ReadAsStringAsync()).Should().Contain("To remove a passkey, confirm your password first");
        (await PasskeysOfAsync(mine.UserId)).Should().ContainSingle();
        (await EventsAsync(email, SecurityEventTypes.FactorRemoved)).Should().BeEmpty();

        (await browser.PostAsync("/account/passkeys/confirm", new() { ["password"] = TestData.Password })).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await browser.PostAsync("/account/passkeys/remove", new() { ["passkeyId"] = mine.Id.ToString("N") })).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await PasskeysOfAsync(mine.UserId)).Should().BeEmpty();
        (await PasskeyHttp.SignInAsync(AccountBrowser.New(Server.Issuer).Client, authenticator)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Only_pages_with_a_passkey_control_may_run_the_served_script()
    {
        using var client = Server.CreateApiClient();
        var login = await client.GetAsync("/account/login");
        var csp = login.Headers.GetValues("Content-Security-Policy").Single();
        csp.Should().Contain("script-src 'self'").And.Contain("connect-src 'self'").And.NotContain("unsafe-inline").And.NotContain("unsafe-eval");
        var html = await login.Content.ReadAsStringAsync();
        var src = System.Text.RegularExpressions.Regex.Match(html, "<script src=\"(?<src>/assets/passkeys\\.js\\?v=[0-9a-f]{16})\" defer></script>").Groups["src"].Value;
        src.Should().NotBeEmpty();
        html.Should().Contain("data-passkey=\"assert\"").And.Contain("hidden>", "the control stays hidden without script");

        var script = await client.GetAsync(src);
        script.StatusCode.Should().Be(HttpStatusCode.OK);
        script.Content.Headers.ContentType!.MediaType.Should().Be("text/javascript");
        script.Headers.CacheControl!.ToString().Should().Contain("immutable");
        (await script.Content.ReadAsStringAsync()).Should().NotContain("eval(");

        // A page without a passkey control (the authorization endpoint's error page) keeps script-src 'none'.
        var other = await client.GetAsync("/connect/authorize?client_id=unknown-client&response_type=code");
        other.Content.Headers.ContentType!.MediaType.Should().Be("text/html");
        other.Headers.GetValues("Content-Security-Policy").Single().Should().Contain("script-src 'none'").And.NotContain("connect-src");
    }

    [Theory]
    [InlineData("/account/login/passkey")]
    [InlineData("/Account/Login/Passkey/")]
    [InlineData("/account%2Flogin%2Fpasskey")]
    [InlineData("/account//login/passkey/options")]
    [InlineData("/ACCOUNT/login/second-factor/passkey")]
    public void Every_spelling_of_an_assertion_endpoint_spends_the_sign_in_budget(string path) =>
        OAuthServer.Protocol.ProtocolPaths.Classify(path)!.Has(OAuthServer.Protocol.EndpointTraits.Login).Should().BeTrue();
}

/// <summary>The start-up checks of the Passkeys section (WebAuthn §5.1.2: an RP id its origins can use).</summary>
public sealed class PasskeyOptionsTests
{
    private static readonly Microsoft.Extensions.Hosting.IHostEnvironment Development = new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { EnvironmentName = "Development" };
    private static readonly Microsoft.Extensions.Hosting.IHostEnvironment Production = new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { EnvironmentName = "Production" };

    private static Microsoft.Extensions.Options.ValidateOptionsResult Check(Microsoft.Extensions.Hosting.IHostEnvironment environment, string rpId, params string[] origins) =>
        new PasskeyOptionsValidator(environment).Validate(null, new PasskeyOptions { RelyingPartyId = rpId, Origins = [.. origins] });

    [Fact]
    public void Origins_on_the_rp_id_or_a_subdomain_over_https_pass() =>
        Check(Production, "example.com", "https://example.com", "https://login.example.com:8443").Succeeded.Should().BeTrue();

    [Theory]
    [InlineData("example.com", "https://evil.example")]
    [InlineData("example.com", "https://notexample.com")]
    [InlineData("example.com", "http://login.example.com")]
    [InlineData("127.0.0.1", "https://127.0.0.1")]
    [InlineData("example.com", "https://example.com/path")]
    public void A_wrong_origin_or_rp_id_stops_the_node(string rpId, string origin) =>
        Check(Production, rpId, origin).Failed.Should().BeTrue();

    [Fact]
    public void Plain_http_on_loopback_is_for_development_only()
    {
        Check(Development, "localhost", "http://localhost:5000").Succeeded.Should().BeTrue();
        Check(Production, "localhost", "http://localhost:5000").Failed.Should().BeTrue();
    }

    [Fact]
    public void The_defaults_come_from_the_issuer_and_a_loopback_address_becomes_localhost()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Server:Issuer"] = "http://127.0.0.1:5123/" }).Build();
        var options = new PasskeyOptions();
        new PasskeyOptionsDefaults(configuration).PostConfigure(null, options);
        options.RelyingPartyId.Should().Be("localhost");
        options.Origins.Should().Equal("http://localhost:5123");
        options.RelyingPartyName.Should().Be("OAuthServer");
        new PasskeyOptionsValidator(Development).Validate(null, options).Succeeded.Should().BeTrue();
    }
}
