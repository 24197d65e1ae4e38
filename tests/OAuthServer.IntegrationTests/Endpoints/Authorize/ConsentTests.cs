using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Endpoints.Authorize;

[Collection(SharedPostgresServer.Name)]
public sealed class ConsentTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Explicit_consent_client_shows_the_consent_page_and_allow_returns_a_code()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync(implicitConsent: false);
        var flow = new BrowserFlow(server);

        var consentPage = await flow.SignInAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())), email, TestData.Password);

        consentPage.StatusCode.Should().Be(HttpStatusCode.OK);
        var html = await consentPage.Content.ReadAsStringAsync();
        html.Should().Contain("Allow access?").And.Contain(clientId);
        html.Should().Contain("Stay signed in").And.Contain("even when you are not using it", "offline_access says plainly what it means");
        html.Should().Contain("Sign you in").And.NotContain("<li>openid</li>");
        html.Should().Contain("data-scope=\"api\"");
        WebUtility.HtmlDecode(html).Should().Contain("No description is registered for the permission named \u201capi\u201d", "an undescribed scope is shown by its name, saying so");

        var fields = BrowserFlow.HiddenFields(html);
        fields["decision"] = "accept";
        var afterConsent = await flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(fields));
        var redirect = await flow.FollowAsync(afterConsent.Headers.Location!.ToString());

        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect);
        BrowserFlow.Query(redirect.Headers.Location!).Should().ContainKey("code");

        // The consent is remembered: the next authorize request goes straight back with a code.
        var second = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));
        second.StatusCode.Should().Be(HttpStatusCode.Redirect);
        BrowserFlow.Query(second.Headers.Location!).Should().ContainKey("code");
    }

    [Fact]
    public async Task A_session_of_a_user_disabled_meanwhile_can_not_record_a_consent()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync(implicitConsent: false);
        var flow = new BrowserFlow(server);
        var consentPage = await flow.SignInAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())), email, TestData.Password);
        var fields = BrowserFlow.HiddenFields(await consentPage.Content.ReadAsStringAsync());
        fields["decision"] = "accept";

        // The operator disables the account while the consent page is open; the browser's cookie still decrypts.
        (await server.AdministerAsync(email, (accounts, id) => accounts.DisableAsync(id, AccountHelpers.TestOrigin))).Should().BeNull();
        var afterConsent = await flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(fields));

        afterConsent.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await server.AdministerAsync(email, (accounts, id) => accounts.EnableAsync(id, AccountHelpers.TestOrigin))).Should().BeNull();
        var again = await new BrowserFlow(server).SignInAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())), email, TestData.Password);
        again.StatusCode.Should().Be(HttpStatusCode.OK, "no consent was recorded, so a fresh sign-in is asked again");
        (await again.Content.ReadAsStringAsync()).Should().Contain("Allow access?");
    }

    [Fact]
    public async Task Denied_consent_returns_access_denied_to_the_client_without_a_code()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync(implicitConsent: false);
        var flow = new BrowserFlow(server);
        var consentPage = await flow.SignInAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())), email, TestData.Password);
        var fields = BrowserFlow.HiddenFields(await consentPage.Content.ReadAsStringAsync());
        fields["decision"] = "deny";

        var afterConsent = await flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(fields));
        var redirect = await flow.FollowAsync(afterConsent.Headers.Location!.ToString());

        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect);
        redirect.Headers.Location!.GetLeftPart(UriPartial.Path).Should().Be(redirectUri);
        var query = BrowserFlow.Query(redirect.Headers.Location!);
        query.Should().ContainKey("error").WhoseValue.Should().Be("access_denied");
        query.Should().NotContainKey("code");
    }

    [Fact]
    public async Task Prompt_none_without_a_session_returns_login_required()
    {
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["prompt"] = "none";

        var response = await new BrowserFlow(server).FollowAsync(BrowserFlow.AuthorizeUrl(parameters));

        response.StatusCode.Should().Be(HttpStatusCode.Redirect);
        BrowserFlow.Query(response.Headers.Location!).Should().ContainKey("error").WhoseValue.Should().Be("login_required");
    }

}
