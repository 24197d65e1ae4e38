using System.Net;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>
/// RFC 8252 §7.3 and OAuth 2.1 §8.4.2: a native app's loopback redirect matches on any port; nothing else about
/// it is relaxed, and no other kind of client or redirect URI loses the exact match.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class LoopbackRedirectUriTests(OAuthServerFactory server)
{
    [Theory]
    [InlineData("http://127.0.0.1/callback", "http://127.0.0.1:{0}/callback")]
    [InlineData("http://127.0.0.1:8123/callback", "http://127.0.0.1:{0}/callback")]
    [InlineData("http://[::1]/callback", "http://[::1]:{0}/callback")]
    [InlineData("http://127.0.0.1/callback?app=cli", "http://127.0.0.1:{0}/callback?app=cli")]
    public async Task Native_client_loopback_redirect_is_accepted_on_any_port_and_the_code_is_redeemed_there(string registered, string requestedPattern)
    {
        var clientId = await RegisterAsync(registered, native: true);
        var email = await server.CreateUserAsync();
        var redirectUri = string.Format(System.Globalization.CultureInfo.InvariantCulture, requestedPattern, Random.Shared.Next(20_000, 60_000));

        var signedIn = await SignedIn.ForAsync(server, email, clientId, redirectUri);
        using var api = server.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(api);

        tokens.GetProperty("access_token").GetString().Should().NotBeNullOrEmpty();
    }

    [Fact]
    public async Task Native_client_code_redeemed_naming_another_port_is_refused()
    {
        var clientId = await RegisterAsync("http://127.0.0.1/callback", native: true);
        var email = await server.CreateUserAsync();
        var signedIn = await SignedIn.ForAsync(server, email, clientId, "http://127.0.0.1:41001/callback");
        using var api = server.CreateApiClient();

        var response = await api.RedeemCodeAsync(clientId, "http://127.0.0.1:41002/callback", signedIn.Code, signedIn.Pkce.Verifier);

        await response.ShouldFailWithAsync("invalid_grant");
    }

    [Theory]
    [InlineData("http://127.0.0.1:41003/other")]
    [InlineData("http://127.0.0.1:41003/callback/")]
    [InlineData("http://127.0.0.1:41003/Callback")]
    [InlineData("http://127.0.0.1:41003/callback?next=x")]
    [InlineData("http://127.0.0.2:41003/callback")]
    [InlineData("http://[::1]:41003/callback")]
    [InlineData("http://127.000.000.001:41003/callback")]
    [InlineData("https://127.0.0.1:41003/callback")]
    [InlineData("http://localhost:41003/callback")]
    [InlineData("http://user@127.0.0.1:41003/callback")]
    [InlineData("http://127.0.0.10:41003/callback")]
    [InlineData("http://127.0.0.1.nip.io:41003/callback")]
    public async Task Native_client_loopback_redirect_with_anything_but_the_port_changed_is_refused(string requested)
    {
        var clientId = await RegisterAsync("http://127.0.0.1/callback", native: true);

        await ShouldNotRedirectAsync(clientId, requested);
    }

    [Fact]
    public async Task Native_client_localhost_redirect_still_matches_exactly()
    {
        // Note: RFC 8252 §8.3: "localhost" may resolve elsewhere, so only the IP literals get any port.
        var clientId = await RegisterAsync("http://localhost:8123/callback", native: true);

        await ShouldNotRedirectAsync(clientId, "http://localhost:41004/callback");
        (await SignInAsync(clientId, "http://localhost:8123/callback")).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task Native_client_https_redirect_still_matches_exactly()
    {
        var clientId = await RegisterAsync("https://app.example/callback", native: true);

        await ShouldNotRedirectAsync(clientId, "https://app.example:8443/callback");
    }

    [Fact]
    public async Task Web_public_client_loopback_redirect_still_matches_exactly()
    {
        var clientId = await RegisterAsync("http://127.0.0.1:8123/callback", native: false);

        await ShouldNotRedirectAsync(clientId, "http://127.0.0.1:41005/callback");
        (await SignInAsync(clientId, "http://127.0.0.1:8123/callback")).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task Confidential_client_loopback_redirect_still_matches_exactly()
    {
        var clientId = "conf-" + Guid.NewGuid().ToString("N")[..12];
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId,
            Kind = ClientKind.Confidential,
            Secret = new string('s', 40),
            RedirectUris = ["http://127.0.0.1/callback"],
            Scopes = ["openid", "api"],
            ImplicitConsent = true,
        });

        await ShouldNotRedirectAsync(clientId, "http://127.0.0.1:41006/callback");
    }

    [Fact]
    public void A_native_client_must_be_public()
    {
        ClientRules.Check(new ClientRegistration
        {
            ClientId = "native-confidential",
            Kind = ClientKind.Confidential,
            Secret = new string('s', 40),
            ApplicationType = ClientApplicationType.Native,
            RedirectUris = ["http://127.0.0.1/callback"],
        }).Select(problem => problem.Message).Should().ContainMatch("*native app is a public client*");
    }

    [Fact]
    public async Task Native_client_pushed_request_with_a_loopback_redirect_on_any_port_is_accepted()
    {
        var clientId = await RegisterAsync("http://127.0.0.1/callback", native: true);
        using var api = server.CreateApiClient();
        var accepted = BrowserFlow.AuthorizeParameters(clientId, "http://127.0.0.1:41007/callback", Pkce.Create());
        var refused = BrowserFlow.AuthorizeParameters(clientId, "http://127.0.0.1:41007/elsewhere", Pkce.Create());

        var acceptedResponse = await api.PostAsync("/connect/par", new FormUrlEncodedContent(accepted.ToDictionary(pair => pair.Key, pair => pair.Value!)));
        var refusedResponse = await api.PostAsync("/connect/par", new FormUrlEncodedContent(refused.ToDictionary(pair => pair.Key, pair => pair.Value!)));

        acceptedResponse.StatusCode.Should().Be(HttpStatusCode.Created, await acceptedResponse.Content.ReadAsStringAsync());
        refusedResponse.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await BrowserFlow.JsonAsync(refusedResponse)).GetProperty("error").GetString().Should().Be("invalid_request");
    }

    private async Task<string> RegisterAsync(string redirectUri, bool native)
    {
        var clientId = (native ? "native-" : "web-") + Guid.NewGuid().ToString("N")[..12];
        return await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId,
            Kind = ClientKind.Public,
            ApplicationType = native ? ClientApplicationType.Native : ClientApplicationType.Web,
            RedirectUris = [redirectUri],
            Scopes = ["openid", "offline_access", "api"],
            ImplicitConsent = true,
        });
    }

    private async Task<HttpResponseMessage> SignInAsync(string clientId, string redirectUri)
    {
        var email = await server.CreateUserAsync();
        return await new BrowserFlow(server).SignInAsync(
            BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())), email, TestData.Password);
    }

    // The error is shown by the server itself; it must not bounce to the unverified URI.
    private async Task ShouldNotRedirectAsync(string clientId, string redirectUri)
    {
        var response = await new BrowserFlow(server).FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest, "redirect_uri {0} must be refused", redirectUri);
        response.Headers.Location.Should().BeNull();
        (await response.Content.ReadAsStringAsync()).Should().Contain("invalid_request");
    }
}
