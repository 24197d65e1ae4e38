using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OAuthServer.Accounts;
using OAuthServer.Accounts.Recovery;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts.Recovery;

/// <summary>A server whose mail goes to the test SMTP server (limits off, as for every shared server).</summary>
public sealed class MailingServer : OAuthServerFactory
{
    protected override IDictionary<string, string?> Settings => TestMailbox.Settings();
}

/// <summary>
/// Password reset by e-mail through the real pipeline and a real SMTP server: the same answer for every address
/// (threat model 4.2), links that are single-use, the newest only, and spent only by the post; and a reset that
/// ends every session, revokes every token and lifts the automatic lockout.
/// </summary>
public sealed class PasswordResetTests(MailingServer server) : IClassFixture<MailingServer>
{
    private const string NewPassword = "a-brand-new-reset-passphrase";

    [Fact]
    public async Task Known_and_unknown_addresses_get_the_same_page_and_only_the_account_gets_mail()
    {
        var known = await server.CreateUserAsync();
        var unknown = TestData.NewEmail();

        var forUnknown = await new BrowserFlow(server).RequestResetAsync(unknown);
        var forKnown = await new BrowserFlow(server).RequestResetAsync(known);

        forKnown.StatusCode.Should().Be(HttpStatusCode.OK);
        forUnknown.StatusCode.Should().Be(forKnown.StatusCode);
        (await forUnknown.Content.ReadAsStringAsync()).Should().Be(await forKnown.Content.ReadAsStringAsync(), "the page must not tell whether the account exists");
        forUnknown.Content.Headers.ContentLength.Should().Be(forKnown.Content.Headers.ContentLength);
        forUnknown.Headers.Select(header => header.Key).Should().BeEquivalentTo(forKnown.Headers.Select(header => header.Key));

        // The mailer works its queue in order: once the known address's mail is there, the unknown one was handled.
        var mail = (await TestMailbox.WaitForAsync(known)).Single();
        TestMailbox.To(unknown).Should().BeEmpty("no mail goes to an address without an account");
        mail.From.Mailboxes.Single().Address.Should().Be(TestMailbox.From);
        TestMailbox.ResetLink(mail).GetLeftPart(UriPartial.Authority).Should().Be(server.Issuer.GetLeftPart(UriPartial.Authority));
        mail.HtmlBody.Should().Contain("/account/reset-password?token=");
    }

    [Fact]
    public async Task A_mailed_link_sets_the_password_and_ends_every_session_and_token()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var signedIn = await SignedIn.ForAsync(server, email, clientId, redirectUri);
        using var api = server.CreateApiClient();
        var refreshToken = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;

        var userId = (await server.ReadUserAsync(email)).Id;
        var sessionsBefore = (await SessionRowsAsync(userId)).Select(row => row.Id).ToList();
        sessionsBefore.Should().NotBeEmpty("the person signed in before asking for the link");
        var link = await server.MailedLinkAsync(email);
        var person = new BrowserFlow(server);
        // Note: a mail scanner opens the link first; that must not spend it.
        (await person.OpenLinkAsync(link)).StatusCode.Should().Be(HttpStatusCode.OK);
        var form = await person.OpenLinkAsync(link);
        form.StatusCode.Should().Be(HttpStatusCode.OK);
        form.Headers.CacheControl!.NoStore.Should().BeTrue("the page carries the token");
        form.Headers.GetValues("Referrer-Policy").Should().Equal("no-referrer");
        var html = await form.Content.ReadAsStringAsync();
        html.Should().Contain("autocomplete=\"new-password\"").And.Contain("<label for=\"password\">").And.Contain("<label for=\"confirmPassword\">");

        var done = await person.SubmitNewPasswordAsync(form, NewPassword);

        done.StatusCode.Should().Be(HttpStatusCode.OK);
        (await done.Content.ReadAsStringAsync()).Should().Contain("Password changed");
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the old password is gone");
        (await server.LoginAsync(email, NewPassword)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        await (await api.RefreshAsync(clientId, refreshToken)).ShouldFailWithAsync("invalid_grant");
        var again = await signedIn.Flow!.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));
        again.StatusCode.Should().Be(HttpStatusCode.OK, "the old browser session is over, so the login form is shown");
        (await again.Content.ReadAsStringAsync()).Should().Contain("autocomplete=\"current-password\"");

        var user = await server.ReadUserAsync(email);
        (await server.EventsForAsync(user.Id)).Select(item => item.Type).Should()
            .ContainInOrder("password.reset_requested", "password.changed", "password.reset");
        (await ResetRowsAsync(user.Id)).Should().ContainSingle().Which.UsedAt.Should().NotBeNull();
        (await SessionRowsAsync(userId)).Where(row => sessionsBefore.Contains(row.Id)).Should()
            .OnlyContain(row => row.EndedAt != null, "the account page must not list a session the reset ended");
    }

    [Fact]
    public async Task A_link_works_once()
    {
        var email = await server.CreateUserAsync();
        var link = await server.MailedLinkAsync(email);
        var person = new BrowserFlow(server);
        var form = await person.OpenLinkAsync(link);
        (await person.SubmitNewPasswordAsync(form, NewPassword)).StatusCode.Should().Be(HttpStatusCode.OK);

        var replay = await person.SubmitNewPasswordAsync(form, "an-attackers-replayed-passphrase");

        replay.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await replay.Content.ReadAsStringAsync()).Should().Contain("role=\"alert\"").And.Contain("/account/forgot-password");
        (await new BrowserFlow(server).OpenLinkAsync(link)).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await server.LoginAsync(email, "an-attackers-replayed-passphrase")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await server.LoginAsync(email, NewPassword)).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task A_newer_request_supersedes_the_older_link()
    {
        var email = await server.CreateUserAsync();
        var older = await server.MailedLinkAsync(email, nth: 1);
        var olderForm = await new BrowserFlow(server).OpenLinkAsync(older);
        olderForm.StatusCode.Should().Be(HttpStatusCode.OK);
        var newer = await server.MailedLinkAsync(email, nth: 2);
        newer.Should().NotBe(older);

        (await new BrowserFlow(server).OpenLinkAsync(older)).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await new BrowserFlow(server).SubmitNewPasswordAsync(olderForm, "the-older-links-passphrase")).StatusCode.Should().Be(HttpStatusCode.BadRequest);

        var person = new BrowserFlow(server);
        (await person.SubmitNewPasswordAsync(await person.OpenLinkAsync(newer), NewPassword)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await server.LoginAsync(email, NewPassword)).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task Concurrent_redemptions_of_one_link_have_exactly_one_winner()
    {
        var email = await server.CreateUserAsync();
        var link = await server.MailedLinkAsync(email);
        var people = Enumerable.Range(0, 6).Select(_ => new BrowserFlow(server)).ToList();
        var forms = await Task.WhenAll(people.Select(person => person.OpenLinkAsync(link)));
        forms.Should().OnlyContain(form => form.StatusCode == HttpStatusCode.OK);

        var answers = await Task.WhenAll(people.Select((person, index) => person.SubmitNewPasswordAsync(forms[index], $"concurrent-attempt-{index}-passphrase")));

        answers.Count(answer => answer.StatusCode == HttpStatusCode.OK).Should().Be(1, "a link is redeemed once, even by requests racing each other");
        answers.Count(answer => answer.StatusCode == HttpStatusCode.BadRequest).Should().Be(people.Count - 1);
        var winner = Array.FindIndex(answers, answer => answer.StatusCode == HttpStatusCode.OK);
        (await server.LoginAsync(email, $"concurrent-attempt-{winner}-passphrase")).StatusCode.Should().Be(HttpStatusCode.Redirect);
        var user = await server.ReadUserAsync(email);
        (await server.EventsForAsync(user.Id)).Count(item => item.Type == "password.reset").Should().Be(1);
    }

    [Fact]
    public async Task Disabled_and_operator_locked_accounts_get_no_mail_and_their_earlier_links_stop_working()
    {
        var disabled = await server.CreateUserAsync();
        var locked = await server.CreateUserAsync();
        var control = await server.CreateUserAsync();
        var disabledLink = await server.MailedLinkAsync(disabled);
        var lockedLink = await server.MailedLinkAsync(locked);
        (await server.AdministerAsync(disabled, (accounts, id) => accounts.DisableAsync(id, AccountHelpers.TestOrigin))).Should().BeNull();
        (await server.AdministerAsync(locked, (accounts, id) => accounts.LockAsync(id, AccountHelpers.TestOrigin))).Should().BeNull();

        (await new BrowserFlow(server).OpenLinkAsync(disabledLink)).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await new BrowserFlow(server).OpenLinkAsync(lockedLink)).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var forDisabled = await new BrowserFlow(server).RequestResetAsync(disabled);
        var forLocked = await new BrowserFlow(server).RequestResetAsync(locked);
        var forControl = await new BrowserFlow(server).RequestResetAsync(control);

        var page = await forControl.Content.ReadAsStringAsync();
        (await forDisabled.Content.ReadAsStringAsync()).Should().Be(page);
        (await forLocked.Content.ReadAsStringAsync()).Should().Be(page);
        await TestMailbox.WaitForAsync(control);
        TestMailbox.To(disabled).Should().HaveCount(1, "only the mail from before the disable");
        TestMailbox.To(locked).Should().HaveCount(1, "only the mail from before the lock");
        var disabledEvents = await server.EventsForAsync((await server.ReadUserAsync(disabled)).Id);
        disabledEvents.Where(item => item.Type == "password.reset_requested").Select(item => item.Data).Should()
            .HaveCount(2).And.Contain(data => data.Contains("account_disabled"));
        var lockedEvents = await server.EventsForAsync((await server.ReadUserAsync(locked)).Id);
        lockedEvents.Should().Contain(item => item.Type == "password.reset_requested" && item.Data.Contains("account_locked"));
    }

    [Fact]
    public async Task A_reset_is_the_way_out_of_the_automatic_lockout()
    {
        var email = await server.CreateUserAsync();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            await server.LoginAsync(email, "wrong-password-attempt");
        }

        (await server.ReadUserAsync(email)).LockedUntil.Should().NotBeNull();
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "locked out");

        var person = new BrowserFlow(server);
        (await person.SubmitNewPasswordAsync(await person.OpenLinkAsync(await server.MailedLinkAsync(email)), NewPassword)).StatusCode.Should().Be(HttpStatusCode.OK);

        var user = await server.ReadUserAsync(email);
        user.LockedUntil.Should().BeNull();
        user.FailedLoginCount.Should().Be(0);
        user.LockoutCount.Should().Be(0);
        (await server.LoginAsync(email, NewPassword)).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task A_refused_password_leaves_the_link_usable()
    {
        var email = await server.CreateUserAsync();
        var link = await server.MailedLinkAsync(email);
        var person = new BrowserFlow(server);
        var form = await person.OpenLinkAsync(link);

        var tooShort = await person.SubmitNewPasswordAsync(form, "short");
        var mismatch = await person.SubmitNewPasswordAsync(form, NewPassword, NewPassword + "-typo");
        var common = await person.SubmitNewPasswordAsync(form, "123456789012");

        tooShort.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await tooShort.Content.ReadAsStringAsync()).Should().Contain("role=\"alert\"").And.Contain("at least 12 characters");
        mismatch.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await mismatch.Content.ReadAsStringAsync()).Should().Contain("not the same");
        common.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await person.SubmitNewPasswordAsync(await person.OpenLinkAsync(link), NewPassword)).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_link_points_at_the_issuer_whatever_Host_the_request_names()
    {
        var email = await server.CreateUserAsync();
        var flow = new BrowserFlow(server);
        var fields = BrowserFlow.HiddenFields(await (await flow.Browser.GetAsync("/account/forgot-password")).Content.ReadAsStringAsync());
        fields["email"] = email;
        using var poisoned = new HttpRequestMessage(HttpMethod.Post, "/account/forgot-password") { Content = new FormUrlEncodedContent(fields) };
        poisoned.Headers.Host = "attacker.example";

        (await flow.Browser.SendAsync(poisoned)).StatusCode.Should().Be(HttpStatusCode.OK);

        var link = TestMailbox.ResetLink((await TestMailbox.WaitForAsync(email)).Single());
        link.Authority.Should().Be(server.Issuer.Authority, "the link is built from Server:Issuer, never from the request's Host header");
    }

    [Fact]
    public async Task Malformed_and_unknown_tokens_are_a_page_not_an_error()
    {
        var flow = new BrowserFlow(server);
        foreach (var token in new[] { "", "x", new string('A', 43), new string('!', 43), new string('A', 4000), "%00" })
        {
            var response = await flow.Browser.GetAsync("/account/reset-password?token=" + Uri.EscapeDataString(token));
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest, $"token '{token[..Math.Min(token.Length, 10)]}' opens nothing");
            (await response.Content.ReadAsStringAsync()).Should().Contain("role=\"alert\"");
        }

        (await flow.Browser.GetAsync("/account/reset-password")).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var invalidEmail = await flow.RequestResetAsync("not-an-address");
        invalidEmail.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await invalidEmail.Content.ReadAsStringAsync()).Should().Contain("role=\"alert\"");
        var noAntiforgery = await server.CreateBrowser().PostAsync("/account/forgot-password", new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = "a@example.com" }));
        noAntiforgery.StatusCode.Should().Be(HttpStatusCode.BadRequest, "a cross-site post can't make the server send mail");
    }

    [Fact]
    public async Task Hostile_reset_posts_are_answered_with_a_page_never_a_server_error()
    {
        var email = await server.CreateUserAsync();
        var link = await server.MailedLinkAsync(email);
        var flow = new BrowserFlow(server);
        var form = await flow.OpenLinkAsync(link);
        var fields = BrowserFlow.HiddenFields(await form.Content.ReadAsStringAsync());
        var antiforgery = fields.Where(field => field.Key != "token").ToList();
        var token = fields["token"];
        List<IEnumerable<KeyValuePair<string, string>>> bodies =
        [
            antiforgery,
            [.. antiforgery, Field("token", token)],
            [.. antiforgery, Field("token", token), Field("password", NewPassword)],
            [.. antiforgery, Field("token", "not-the-token"), Field("token", token), Field("password", NewPassword), Field("confirmPassword", NewPassword)],
            [.. antiforgery, Field("token", token), Field("password", new string('x', 20_000)), Field("confirmPassword", new string('x', 20_000))],
            [.. antiforgery, Field("token", token + "\u0000"), Field("password", NewPassword), Field("confirmPassword", NewPassword)],
            [.. antiforgery, Field("token", "<script>x</script>"), Field("password", NewPassword), Field("confirmPassword", NewPassword)],
        ];

        foreach (var body in bodies)
        {
            var response = await flow.Browser.PostAsync("/account/reset-password", new FormUrlEncodedContent(body));
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest, string.Join("&", body.Select(field => field.Key)));
            var answer = await response.Content.ReadAsStringAsync();
            answer.Should().NotContain("<script>x</script>");
            // Note: what the shared input checks refuse (control characters, oversized values) is their ProblemDetails;
            // everything else is this page, with its error announced.
            if (response.Content.Headers.ContentType?.MediaType == "text/html")
            {
                answer.Should().Contain("role=\"alert\"");
            }
        }

        var forgot = await flow.Browser.PostAsync("/account/forgot-password", new FormUrlEncodedContent(antiforgery));
        forgot.StatusCode.Should().Be(HttpStatusCode.BadRequest, "a forgot-password post without an address");
        (await forgot.Content.ReadAsStringAsync()).Should().Contain("role=\"alert\"");
        (await flow.SubmitNewPasswordAsync(await flow.OpenLinkAsync(link), NewPassword)).StatusCode.Should().Be(HttpStatusCode.OK, "none of that spent the link");
    }

    [Fact]
    public async Task Tokens_are_stored_only_as_their_hash()
    {
        var email = await server.CreateUserAsync();
        var token = TestMailbox.Token(await server.MailedLinkAsync(email));
        var row = (await ResetRowsAsync((await server.ReadUserAsync(email)).Id)).Single();

        Convert.ToBase64String(row.TokenHash).Should().Be(Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(System.Buffers.Text.Base64Url.DecodeFromChars(token))));
        System.Buffers.Text.Base64Url.DecodeFromChars(token).Should().HaveCount(32, "256 random bits");
        (row.ExpiresAt - row.CreatedAt).Should().Be(TimeSpan.FromMinutes(30));
    }

    [Fact]
    public async Task Without_mail_the_forgot_password_page_says_reset_is_not_available()
    {
        await using var plain = await CustomServer.StartAsync();
        var flow = new BrowserFlow(plain);

        var page = await flow.Browser.GetAsync("/account/forgot-password");

        page.StatusCode.Should().Be(HttpStatusCode.OK);
        var html = WebUtility.HtmlDecode(await page.Content.ReadAsStringAsync());
        html.Should().Contain("Reset by email isn't available").And.NotContain("<form");
        PasswordRecovery.IsAvailable(plain.Services).Should().BeFalse();
        PasswordRecovery.IsAvailable(server.Services).Should().BeTrue();
    }

    [Fact]
    public async Task A_mail_host_without_a_sender_or_a_lifetime_out_of_range_stops_the_server_at_start_up()
    {
        var failure = await Record.ExceptionAsync(() => CustomServer.StartAsync(new()
        {
            ["Mail:Host"] = "127.0.0.1",
            ["PasswordReset:TokenLifetime"] = "7.00:00:00",
        }));

        failure.Should().NotBeNull();
        var messages = Flatten(failure!).OfType<OptionsValidationException>().SelectMany(exception => exception.Failures).ToList();
        messages.Should().Contain(message => message.Contains("Mail:FromAddress", StringComparison.Ordinal));
        messages.Should().Contain(message => message.Contains("PasswordReset:TokenLifetime", StringComparison.Ordinal));
    }

    private static KeyValuePair<string, string> Field(string name, string value) => new(name, value);

    private static IEnumerable<Exception> Flatten(Exception exception) =>
        exception is AggregateException aggregate ? aggregate.InnerExceptions.SelectMany(Flatten)
        : exception.InnerException is { } inner ? new[] { exception }.Concat(Flatten(inner)) : [exception];

    private Task<List<PasswordReset>> ResetRowsAsync(Guid userId) =>
        server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<PasswordReset>().AsNoTracking()
            .Where(row => row.UserId == userId).ToListAsync());

    private Task<List<SessionRecord>> SessionRowsAsync(Guid userId) =>
        server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<SessionRecord>().AsNoTracking()
            .Where(row => row.UserId == userId).ToListAsync());
}
