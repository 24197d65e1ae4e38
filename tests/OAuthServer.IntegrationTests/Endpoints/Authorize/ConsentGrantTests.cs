using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Accounts;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.IntegrationTests.Endpoints.Authorize;

/// <summary>
/// The consent page in words, the standing grant it records (one per person and client, widened, never a second
/// row), what the form may and may not be made to record, and revoking a grant with every token of it; on both stores.
/// </summary>
public abstract class ConsentGrantTests(OAuthServerFactory server)
{
    private const string Secret = "consent-grant-client-secret-0123456789";

    [Fact]
    public async Task The_page_names_the_client_with_its_registered_logo_and_home_page_and_describes_each_scope_encoded()
    {
        var scope = "inv-" + Guid.NewGuid().ToString("N")[..8];
        var (clientId, redirectUri) = await ClientAsync(["openid", scope], displayName: "Invoices <script>alert(1)</script>",
            logoUri: "https://cdn.example.test/logo.png?a=1&b=2", clientUri: "https://invoices.example.test/");
        await DescribeAsync(scope, "Read your invoices", "See the invoices & receipts in your account.", german: ("Ihre Rechnungen lesen", "Die Rechnungen in Ihrem Konto sehen."));
        var email = await server.CreateUserAsync();

        var (_, page) = await ConsentPageAsync(email, clientId, redirectUri, $"openid {scope}");
        var html = await page.Content.ReadAsStringAsync();

        page.StatusCode.Should().Be(HttpStatusCode.OK);
        html.Should().Contain("Invoices &lt;script&gt;alert(1)&lt;/script&gt;").And.NotContain("<script>", "the client's name is encoded");
        html.Should().Contain("src=\"https://cdn.example.test/logo.png?a=1&amp;b=2\"").And.Contain("href=\"https://invoices.example.test/\"");
        html.Should().Contain("Read your invoices").And.Contain("See the invoices &amp; receipts in your account.");
        html.Should().Contain("Sign you in").And.NotContain("Ihre Rechnungen", "the request's culture is English here");
        html.Should().NotContain("style=").And.NotContain("<script", "no inline style or script on the page");
    }

    [Fact]
    public async Task The_query_of_the_consent_page_can_inject_no_markup_and_no_logo()
    {
        var (clientId, redirectUri) = await ClientAsync(["openid"]);
        var email = await server.CreateUserAsync();
        var flow = new BrowserFlow(server);
        (await flow.SignInAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create(), "openid")), email, TestData.Password))
            .StatusCode.Should().Be(HttpStatusCode.OK);

        var injected = await flow.Browser.GetAsync($"/account/consent?client_id={clientId}&scope={Uri.EscapeDataString("openid <img/src=x>")}&logo_uri=https://evil.example/&returnUrl=%2Fconnect%2Fauthorize");
        var html = await injected.Content.ReadAsStringAsync();

        injected.StatusCode.Should().Be(HttpStatusCode.OK);
        html.Should().NotContain("<img/src=x>").And.NotContain("evil.example").And.NotContain("<img", "the client registered no logo");
        html.Should().Contain("&lt;img/src=x&gt;", "an unknown scope is shown by its name, encoded");

        // A value that is no scope token (RFC 6749 §3.3) was never requested: the page refuses it.
        var quoted = await flow.Browser.GetAsync($"/account/consent?client_id={clientId}&scope={Uri.EscapeDataString("openid x\"><b>")}");
        quoted.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await quoted.Content.ReadAsStringAsync()).Should().NotContain("<b>");
    }

    [Fact]
    public async Task A_second_consent_widens_the_one_standing_grant_and_the_page_says_what_was_already_allowed()
    {
        var (clientId, redirectUri) = await ClientAsync(["openid", "profile", "email"]);
        var email = await server.CreateUserAsync();

        var (flow, first) = await ConsentPageAsync(email, clientId, redirectUri, "openid profile");
        await AcceptAsync(flow, first);
        var second = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create(), "openid profile email")));
        var html = await second.Content.ReadAsStringAsync();

        second.StatusCode.Should().Be(HttpStatusCode.OK, "email was never allowed");
        html.Should().Contain("You have already allowed");
        html[html.IndexOf("id=\"asked\"", StringComparison.Ordinal)..html.IndexOf("id=\"kept\"", StringComparison.Ordinal)]
            .Should().Contain("data-scope=\"email\"").And.NotContain("data-scope=\"profile\"");
        await AcceptAsync(flow, second);
        await AcceptAsync(flow, second); // the same form again (a second tab, a double click) changes nothing

        var standing = await StandingGrantsAsync(email, clientId);
        standing.Should().ContainSingle("one standing grant per person and client, not a row per consent")
            .Which.Should().BeEquivalentTo(["openid", "profile", "email"]);
        var third = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create(), "openid email")));
        third.StatusCode.Should().Be(HttpStatusCode.Redirect, "the widened grant covers a request for fewer scopes");
        BrowserFlow.Query(third.Headers.Location!).Should().ContainKey("code");
        var events = await server.EventsForAsync((await server.ReadUserAsync(email)).Id);
        events.Where(item => item.Type == "consent.granted").Should().HaveCount(2);
        events.Last(item => item.Type == "consent.granted").Data.Should().Contain("\"added\":[\"email\"]");
    }

    [Fact]
    public async Task A_tampered_or_foreign_consent_form_records_nothing()
    {
        var (clientId, redirectUri) = await ClientAsync(["openid", "profile", "email"]);
        var (otherClient, _) = await ClientAsync(["openid"]);
        var email = await server.CreateUserAsync();
        var (flow, page) = await ConsentPageAsync(email, clientId, redirectUri, "openid");
        var fields = BrowserFlow.HiddenFields(await page.Content.ReadAsStringAsync());
        fields["decision"] = "accept";

        // The sealed ticket, altered in one place; and the old form's fields, asking for more than was shown.
        var tampered = new Dictionary<string, string>(fields) { ["ticket"] = Flip(fields["ticket"]) };
        (await flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(tampered))).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var widened = new Dictionary<string, string>(fields) { ["scope"] = "openid profile email", ["clientId"] = otherClient, ["client_id"] = otherClient };
        var accepted = await flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(widened));
        accepted.StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await StandingGrantsAsync(email, clientId)).Should().ContainSingle().Which.Should().BeEquivalentTo(["openid"], "only what the page showed is recorded");
        (await StandingGrantsAsync(email, otherClient)).Should().BeEmpty();

        // Another person's browser can't replay this person's form (it has its own session and antiforgery token).
        var stranger = await server.CreateUserAsync();
        var (strangerFlow, strangerPage) = await ConsentPageAsync(stranger, clientId, redirectUri, "openid");
        var strangerFields = BrowserFlow.HiddenFields(await strangerPage.Content.ReadAsStringAsync());
        strangerFields["ticket"] = fields["ticket"];
        strangerFields["decision"] = "accept";
        (await strangerFlow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(strangerFields))).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await StandingGrantsAsync(stranger, clientId)).Should().BeEmpty();

        // Without the antiforgery token the POST is refused before it records anything.
        var forged = new Dictionary<string, string>(fields);
        forged.Remove(fields.Keys.Single(key => key.StartsWith("__RequestVerificationToken", StringComparison.Ordinal)));
        (await flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(forged))).IsSuccessStatusCode.Should().BeFalse();
    }

    [Fact]
    public async Task Revoking_a_grant_ends_its_refresh_token_and_access_token_and_asks_for_consent_again()
    {
        var (clientId, redirectUri) = await ClientAsync(["openid", "offline_access"], confidential: true, displayName: "Revocable app");
        var email = await server.CreateUserAsync();
        var user = await server.ReadUserAsync(email);
        var pkce = Pkce.Create();
        var (flow, page) = await ConsentPageAsync(email, clientId, redirectUri, "openid offline_access", pkce);
        var code = BrowserFlow.Query((await AcceptAsync(flow, page)).Headers.Location!)["code"];
        using var api = server.CreateApiClient();
        var tokens = await (await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["client_id"] = clientId, ["client_secret"] = Secret,
            ["redirect_uri"] = redirectUri, ["code"] = code, ["code_verifier"] = pkce.Verifier,
        }))).ShouldSucceedAsync();
        var refreshToken = tokens.GetProperty("refresh_token").GetString()!;
        var accessToken = tokens.GetProperty("access_token").GetString()!;
        (await IntrospectAsync(api, clientId, refreshToken)).Should().BeTrue();
        (await IntrospectAsync(api, clientId, accessToken)).Should().BeTrue();

        var listed = await server.WithScopeAsync(services => services.GetRequiredService<Grants>().ListAsync(user.Id));
        var grant = listed.Should().ContainSingle().Which;
        grant.ClientId.Should().Be(clientId);
        grant.ClientDisplayName.Should().Be("Revocable app");
        grant.Standing.Should().BeTrue();
        grant.Scopes.Should().BeEquivalentTo(["openid", "offline_access"]);

        var revoked = await server.WithScopeAsync(services => services.GetRequiredService<Grants>().RevokeAsync(user.Id, clientId, AccountHelpers.TestOrigin));

        revoked.Succeeded.Should().BeTrue();
        await (await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["client_id"] = clientId, ["client_secret"] = Secret, ["refresh_token"] = refreshToken,
        }))).ShouldFailWithAsync("invalid_grant");
        (await IntrospectAsync(api, clientId, refreshToken)).Should().BeFalse();
        (await IntrospectAsync(api, clientId, accessToken)).Should().BeFalse();
        (await server.WithScopeAsync(services => services.GetRequiredService<Grants>().ListAsync(user.Id))).Should().BeEmpty();
        var again = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create(), "openid offline_access")));
        again.StatusCode.Should().Be(HttpStatusCode.OK, "with the grant gone, the consent page is shown again");
        (await again.Content.ReadAsStringAsync()).Should().Contain("Allow access?");
        var events = await server.EventsForAsync(user.Id);
        events.Should().ContainSingle(item => item.Type == "consent.revoked").Which.ClientId.Should().Be(clientId);
        (await server.WithScopeAsync(services => services.GetRequiredService<Grants>().RevokeAsync(user.Id, clientId, AccountHelpers.TestOrigin)))
            .Problem.Kind.Should().Be(ProblemKind.NotFound, "there is nothing left to revoke");
    }

    [Fact]
    public async Task A_first_party_client_holding_live_tokens_is_listed_and_revoking_it_ends_its_refresh_token()
    {
        var signedIn = await SignedIn.StartAsync(server, "openid offline_access");
        using var api = server.CreateApiClient();
        var refreshToken = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var userId = await server.WithScopeAsync(async services =>
        {
            var authorizations = services.GetRequiredService<IOpenIddictAuthorizationManager>();
            var applications = services.GetRequiredService<IOpenIddictApplicationManager>();
            var applicationId = await applications.GetIdAsync((await applications.FindByClientIdAsync(signedIn.ClientId))!);
            var authorization = await authorizations.FindByApplicationIdAsync(applicationId!).FirstAsync();
            return Guid.Parse((await authorizations.GetSubjectAsync(authorization))!);
        });

        var listed = await server.WithScopeAsync(services => services.GetRequiredService<Grants>().ListAsync(userId));

        var grant = listed.Should().ContainSingle().Which;
        grant.ClientId.Should().Be(signedIn.ClientId);
        grant.Standing.Should().BeFalse("an implicit-consent client has no standing grant, only a sign-in's tokens");
        grant.Scopes.Should().BeEquivalentTo(["openid", "offline_access"]);
        (await server.WithScopeAsync(services => services.GetRequiredService<Grants>().RevokeAsync(userId, signedIn.ClientId, AccountHelpers.TestOrigin))).Succeeded.Should().BeTrue();
        await (await api.RefreshAsync(signedIn.ClientId, refreshToken)).ShouldFailWithAsync("invalid_grant");
        (await server.WithScopeAsync(services => services.GetRequiredService<Grants>().ListAsync(userId))).Should().BeEmpty();
    }

    [Fact]
    public async Task Revoking_one_persons_grant_leaves_another_persons_grant_to_the_same_client()
    {
        var (clientId, redirectUri) = await ClientAsync(["openid"]);
        var first = await server.CreateUserAsync();
        var second = await server.CreateUserAsync();
        foreach (var email in new[] { first, second })
        {
            var (flow, page) = await ConsentPageAsync(email, clientId, redirectUri, "openid");
            await AcceptAsync(flow, page);
        }

        var firstId = (await server.ReadUserAsync(first)).Id;
        (await server.WithScopeAsync(services => services.GetRequiredService<Grants>().RevokeAsync(firstId, clientId, AccountHelpers.TestOrigin))).Succeeded.Should().BeTrue();

        (await StandingGrantsAsync(first, clientId)).Should().BeEmpty();
        (await StandingGrantsAsync(second, clientId)).Should().ContainSingle();
    }

    [Fact]
    public async Task Concurrent_consents_of_one_person_leave_one_standing_grant()
    {
        var (clientId, redirectUri) = await ClientAsync(["openid", "profile", "email"]);
        var email = await server.CreateUserAsync();
        var pages = new List<(BrowserFlow Flow, Dictionary<string, string> Fields)>();
        foreach (var scope in new[] { "openid", "openid profile", "openid email", "openid profile email" })
        {
            var (flow, page) = await ConsentPageAsync(email, clientId, redirectUri, scope);
            var fields = BrowserFlow.HiddenFields(await page.Content.ReadAsStringAsync());
            fields["decision"] = "accept";
            pages.Add((flow, fields));
        }

        var answers = await Task.WhenAll(pages.Select(item => item.Flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(item.Fields))));

        answers.Should().OnlyContain(answer => answer.StatusCode == HttpStatusCode.Redirect);
        (await StandingGrantsAsync(email, clientId)).Should().ContainSingle().Which.Should().BeEquivalentTo(["openid", "profile", "email"]);
    }

    [Fact]
    public async Task Scope_words_follow_the_UI_culture_with_German_shipped_and_set_per_language()
    {
        var scope = "inv-" + Guid.NewGuid().ToString("N")[..8];
        await ClientAsync([scope]);
        await DescribeAsync(scope, "Read your invoices", "See your invoices.", german: ("Ihre Rechnungen lesen", "Ihre Rechnungen sehen."));

        var german = await WordsAsync("de-DE", ["openid", "offline_access", scope, "never-described"]);
        var english = await WordsAsync("en", ["offline_access", scope]);

        german.Select(item => item.DisplayName).Should().Equal("Sie anmelden", "Angemeldet bleiben", "Ihre Rechnungen lesen", "never-described");
        german[1].Description.Should().Contain("auch wenn Sie sie gerade nicht benutzen");
        german[3].Described.Should().BeFalse();
        german[3].Description.Should().Contain("„never-described“");
        english.Select(item => item.DisplayName).Should().Equal("Stay signed in", "Read your invoices");
    }

    private async Task<IReadOnlyList<ScopeText>> WordsAsync(string culture, string[] scopes) =>
        await server.WithScopeAsync(async services =>
        {
            var previous = CultureInfo.CurrentUICulture;
            CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(culture);
            try
            {
                return await services.GetRequiredService<ScopeWording>().DescribeAsync(scopes, CancellationToken.None);
            }
            finally
            {
                CultureInfo.CurrentUICulture = previous;
            }
        });

    private Task<bool> DescribeAsync(string scope, string displayName, string description, (string Name, string Description) german) =>
        server.WithScopeAsync(async services =>
        {
            var outcome = await services.GetRequiredService<ScopeRegistry>().SetWordingAsync(
                new ScopeWordingChange(scope, displayName, description, new Dictionary<string, string?> { ["de"] = german.Name }, new Dictionary<string, string?> { ["de"] = german.Description }),
                AccountHelpers.TestOrigin);
            outcome.Problems.Should().BeEmpty();
            return true;
        });

    private async Task<(string ClientId, string RedirectUri)> ClientAsync(
        string[] scopes, bool confidential = false, string? displayName = null, string? logoUri = null, string? clientUri = null)
    {
        var clientId = "consent-" + Guid.NewGuid().ToString("N")[..12];
        var redirectUri = $"https://app.example/{clientId}/callback";
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId,
            DisplayName = displayName,
            Kind = confidential ? ClientKind.Confidential : ClientKind.Public,
            Secret = confidential ? Secret : null,
            RedirectUris = [redirectUri],
            Scopes = scopes,
            LogoUri = logoUri,
            ClientUri = clientUri,
        });
        return (clientId, redirectUri);
    }

    private async Task<(BrowserFlow Flow, HttpResponseMessage Page)> ConsentPageAsync(string email, string clientId, string redirectUri, string scope, Pkce? pkce = null)
    {
        var flow = new BrowserFlow(server);
        var page = await flow.SignInAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce ?? Pkce.Create(), scope)), email, TestData.Password);
        page.StatusCode.Should().Be(HttpStatusCode.OK, "the consent page is shown");
        return (flow, page);
    }

    private static async Task<HttpResponseMessage> AcceptAsync(BrowserFlow flow, HttpResponseMessage page)
    {
        var fields = BrowserFlow.HiddenFields(await page.Content.ReadAsStringAsync());
        fields["decision"] = "accept";
        var afterConsent = await flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(fields));
        afterConsent.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var redirect = await flow.FollowAsync(afterConsent.Headers.Location!.ToString());
        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect);
        BrowserFlow.Query(redirect.Headers.Location!).Should().ContainKey("code");
        return redirect;
    }

    // The scopes of each valid standing (permanent) authorization of the person at the client.
    private async Task<List<string[]>> StandingGrantsAsync(string email, string clientId)
    {
        var subject = (await server.ReadUserAsync(email)).Id.ToString();
        return await server.WithScopeAsync(async services =>
        {
            var applications = services.GetRequiredService<IOpenIddictApplicationManager>();
            var authorizations = services.GetRequiredService<IOpenIddictAuthorizationManager>();
            var applicationId = await applications.GetIdAsync((await applications.FindByClientIdAsync(clientId))!);
            var found = new List<string[]>();
            await foreach (var authorization in authorizations.FindAsync(subject, applicationId, Statuses.Valid, AuthorizationTypes.Permanent, scopes: null))
            {
                found.Add([.. await authorizations.GetScopesAsync(authorization)]);
            }

            return found;
        });
    }

    private static async Task<bool> IntrospectAsync(HttpClient api, string clientId, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/introspect")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token }),
        };
        request.Headers.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{clientId}:{Secret}")));
        var response = await api.SendAsync(request);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        return (await BrowserFlow.JsonAsync(response)).GetProperty("active").GetBoolean();
    }

    private static string Flip(string value)
    {
        var characters = value.ToCharArray();
        var middle = characters.Length / 2;
        characters[middle] = characters[middle] == 'A' ? 'B' : 'A';
        return new string(characters);
    }
}

[Collection(SharedPostgresServer.Name)]
public sealed class PostgresConsentGrantTests(OAuthServerFactory server) : ConsentGrantTests(server);

public sealed class SqliteConsentGrantTests(SqliteOAuthServerFactory server) : ConsentGrantTests(server), IClassFixture<SqliteOAuthServerFactory>;
