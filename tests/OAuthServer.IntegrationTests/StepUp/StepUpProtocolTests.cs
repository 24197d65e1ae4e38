using System.Net;
using System.Text.Json;
using OAuthServer.IntegrationTests.Admin;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.StepUp.StepUpFlow;

namespace OAuthServer.IntegrationTests.StepUp;

/// <summary>
/// amr and acr (RFC 8176, OIDC Core §2) in the tokens, and the level a request needs: acr_values (OIDC Core
/// §3.1.2.1), a client registered as requiring a second factor, and the operator's policy. Over HTTP, through the
/// real pipeline; the second-factor page itself is tested with the factors.
/// </summary>
public sealed class StepUpProtocolTests(AdminServer server) : IClassFixture<AdminServer>
{
    private const string Scope = "openid offline_access";

    [Fact]
    public async Task Discovery_lists_the_acr_ladder_and_the_amr_and_acr_claims()
    {
        using var api = server.Node.CreateApiClient();
        var document = await BrowserFlow.JsonAsync(await api.GetAsync("/.well-known/openid-configuration"));

        document.GetProperty("acr_values_supported").EnumerateArray().Select(item => item.GetString())
            .Should().Equal([Sfa, Mfa, "phr"], "the ladder, weakest first");
        document.GetProperty("claims_supported").EnumerateArray().Select(item => item.GetString())
            .Should().Contain(["amr", "acr", "auth_time"]);
    }

    [Fact]
    public async Task A_password_sign_in_has_amr_pwd_as_a_JSON_array_and_acr_sfa_in_its_ID_token_and_nothing_of_it_in_a_plain_access_token()
    {
        using var admin = await server.AdminClientAsync();
        var (clientId, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access", "api"]);
        var email = await server.Node.CreateUserAsync();

        var signedIn = await SignedIn.ForAsync(server.Node, email, clientId, redirectUri, "openid offline_access api");
        using var api = server.Node.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(api);

        var idToken = Payload(tokens.GetProperty("id_token").GetString()!);
        idToken.GetProperty("amr").ValueKind.Should().Be(JsonValueKind.Array, "RFC 8176: amr is an array even with one method");
        idToken.GetProperty("amr").EnumerateArray().Select(item => item.GetString()).Should().Equal("pwd");
        idToken.GetProperty("acr").GetString().Should().Be(Sfa);
        idToken.GetProperty("auth_time").GetInt64().Should().BeGreaterThan(0);
        var accessToken = Payload(tokens.GetProperty("access_token").GetString()!);
        accessToken.TryGetProperty("amr", out _).Should().BeFalse("nobody asked for a level, so the access token does not carry one");
        accessToken.TryGetProperty("acr", out _).Should().BeFalse();
    }

    [Fact]
    public async Task A_refresh_keeps_the_amr_acr_and_auth_time_of_the_sign_in()
    {
        using var admin = await server.AdminClientAsync();
        var (clientId, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access"]);
        var email = await server.Node.CreateUserAsync();
        var pkce = Pkce.Create();
        var flow = new BrowserFlow(server.Node);
        // Note: acr_values=sfa is met by the password, and asks for the sign-in facts in the access token too.
        var query = (await AuthorizeAsync(flow, Url(clientId, redirectUri, pkce, Scope, ("acr_values", Sfa)), email)).ShouldGoBackToTheClient("sfa is met");
        using var api = server.Node.CreateApiClient();
        var first = await (await api.RedeemCodeAsync(clientId, redirectUri, query["code"], pkce.Verifier)).ShouldSucceedAsync();
        await Task.Delay(TimeSpan.FromSeconds(1.1)); // a new second, so a refreshed auth_time of "now" would differ

        var refreshed = await (await api.RefreshAsync(clientId, first.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();
        var again = await (await api.RefreshAsync(clientId, refreshed.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();

        var original = Payload(first.GetProperty("id_token").GetString()!);
        foreach (var tokens in new[] { refreshed, again })
        {
            foreach (var token in new[] { Payload(tokens.GetProperty("id_token").GetString()!), Payload(tokens.GetProperty("access_token").GetString()!) })
            {
                token.GetProperty("amr").EnumerateArray().Select(item => item.GetString()).Should().Equal("pwd");
                token.GetProperty("acr").GetString().Should().Be(Sfa);
                token.GetProperty("auth_time").GetInt64().Should().Be(original.GetProperty("auth_time").GetInt64(), "OIDC Core §12.2: the original sign-in");
            }
        }
    }

    [Fact]
    public async Task Acr_values_mfa_with_a_password_only_session_goes_to_the_second_factor_page_and_prompt_none_gets_interaction_required()
    {
        using var admin = await server.AdminClientAsync();
        var (clientId, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access"]);
        var email = await server.Node.CreateUserAsync();
        var signedIn = await SignedIn.ForAsync(server.Node, email, clientId, redirectUri, Scope);
        var flow = signedIn.Flow!;

        var url = Url(clientId, redirectUri, Pkce.Create(), Scope, ("acr_values", Mfa));
        var returnUrl = (await AuthorizeAsync(flow, url)).ShouldAskForASecondFactor("the session has a password only");
        returnUrl.Should().Contain("acr_values=" + Uri.EscapeDataString(Mfa));
        (await AuthorizeAsync(flow, returnUrl)).ShouldAskForASecondFactor("coming back without a second factor gets no code");

        var none = (await AuthorizeAsync(flow, Url(clientId, redirectUri, Pkce.Create(), Scope, ("acr_values", Mfa), ("prompt", "none"))))
            .ShouldGoBackToTheClient("prompt=none may not show a page");
        none["error"].Should().Be("interaction_required");
        none.Should().NotContainKey("code");

        // Note: OIDC Core §3.1.2.1: acr_values is voluntary; values we don't know ask for nothing, the weakest known one counts.
        (await AuthorizeAsync(flow, Url(clientId, redirectUri, Pkce.Create(), Scope, ("acr_values", "urn:example:gold silver"))))
            .ShouldGoBackToTheClient("unknown values alone are ignored").Should().ContainKey("code");
        (await AuthorizeAsync(flow, Url(clientId, redirectUri, Pkce.Create(), Scope, ("acr_values", "urn:example:gold " + Mfa))))
            .ShouldAskForASecondFactor("a known value among unknown ones counts");
        (await AuthorizeAsync(flow, Url(clientId, redirectUri, Pkce.Create(), Scope, ("acr_values", Mfa + " " + Sfa))))
            .ShouldGoBackToTheClient("the weakest known value is honoured").Should().ContainKey("code");
    }

    [Fact]
    public async Task A_first_sign_in_that_asks_for_mfa_goes_from_the_password_to_the_second_factor_page_and_so_does_a_pushed_request()
    {
        using var admin = await server.AdminClientAsync();
        var (clientId, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access"]);
        var email = await server.Node.CreateUserAsync();

        (await AuthorizeAsync(new BrowserFlow(server.Node), Url(clientId, redirectUri, Pkce.Create(), Scope, ("acr_values", Mfa)), email))
            .ShouldAskForASecondFactor("the password was not enough");

        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create(), Scope);
        parameters["acr_values"] = Mfa;
        parameters["prompt"] = "login";
        using var api = server.Node.CreateApiClient();
        var pushed = await BrowserFlow.JsonAsync(await api.PostAsync("/connect/par", new FormUrlEncodedContent(parameters.ToDictionary(pair => pair.Key, pair => pair.Value!))));
        var requestUri = pushed.GetProperty("request_uri").GetString()!;
        var returnUrl = (await AuthorizeAsync(new BrowserFlow(server.Node), $"/connect/authorize?client_id={clientId}&request_uri={Uri.EscapeDataString(requestUri)}", email))
            .ShouldAskForASecondFactor("the pushed acr_values count, after the fresh sign-in prompt=login asked for");
        returnUrl.Should().Contain("request_uri=", "the page comes back to the pushed request");
    }

    [Fact]
    public async Task A_client_registered_as_requiring_a_second_factor_asks_for_one_without_acr_values_and_says_so_when_read()
    {
        using var admin = await server.AdminClientAsync();
        var (clientId, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access"], requireSecondFactor: true);
        (await BrowserFlow.JsonAsync(await admin.GetAsync($"/admin/clients/{clientId}"))).GetProperty("require_second_factor").GetBoolean().Should().BeTrue();
        var email = await server.Node.CreateUserAsync();
        var flow = new BrowserFlow(server.Node);

        (await AuthorizeAsync(flow, Url(clientId, redirectUri, Pkce.Create(), Scope), email)).ShouldAskForASecondFactor("the client requires one");
        (await AuthorizeAsync(flow, Url(clientId, redirectUri, Pkce.Create(), Scope, ("acr_values", Sfa))))
            .ShouldAskForASecondFactor("a request can't ask for less than the client's registration");
        (await AuthorizeAsync(flow, Url(clientId, redirectUri, Pkce.Create(), Scope, ("prompt", "none"))))
            .ShouldGoBackToTheClient("prompt=none")["error"].Should().Be("interaction_required");

        // An ordinary client of the same server, in the same browser, is not affected.
        var (plain, plainRedirect) = await CreateClientAsync(admin, ["openid"]);
        (await AuthorizeAsync(flow, Url(plain, plainRedirect, Pkce.Create(), "openid"))).ShouldGoBackToTheClient("no requirement").Should().ContainKey("code");
    }

    [Fact]
    public async Task Forged_amr_and_acr_parameters_and_a_claims_request_do_not_raise_the_level()
    {
        using var admin = await server.AdminClientAsync();
        var (clientId, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access"]);
        var email = await server.Node.CreateUserAsync();
        var pkce = Pkce.Create();
        var claims = JsonSerializer.Serialize(new { id_token = new { acr = new { essential = true, value = Mfa }, amr = new { values = new[] { "pwd", "otp", "mfa" } } } });

        var query = (await AuthorizeAsync(new BrowserFlow(server.Node),
            Url(clientId, redirectUri, pkce, Scope, ("amr", "mfa"), ("acr", Mfa), ("claims", claims), ("auth_time", "9999999999")), email))
            .ShouldGoBackToTheClient("nothing here asks for a level this server knows how to require");
        using var api = server.Node.CreateApiClient();
        var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, query["code"], pkce.Verifier)).ShouldSucceedAsync();

        var idToken = Payload(tokens.GetProperty("id_token").GetString()!);
        idToken.GetProperty("amr").EnumerateArray().Select(item => item.GetString()).Should().Equal("pwd");
        idToken.GetProperty("acr").GetString().Should().Be(Sfa);
        idToken.GetProperty("auth_time").GetInt64().Should().BeLessThan(9999999999);
    }

    [Fact]
    public async Task Registration_may_ask_for_a_second_factor_and_the_answer_says_so()
    {
        var token = await server.ClientCredentialsTokenAsync("admin-cli", AdminServer.BootstrapSecret, "oauth.admin", waitForClient: true);
        using var admin = server.Bearer(token);
        var (registrar, secret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.register"]);
        using var registration = server.Bearer(await server.ClientCredentialsTokenAsync(registrar, secret, "oauth.register"));

        using var response = await registration.PostAsync("/connect/register", JsonContent(new
        {
            redirect_uris = new[] { "https://app.example.com/cb" }, token_endpoint_auth_method = "none", require_second_factor = true,
        }));
        var body = await response.Content.ReadAsStringAsync();

        response.StatusCode.Should().Be(HttpStatusCode.Created, body);
        var registered = JsonDocument.Parse(body).RootElement;
        registered.GetProperty("require_second_factor").GetBoolean().Should().BeTrue();
        (await BrowserFlow.JsonAsync(await admin.GetAsync($"/admin/clients/{registered.GetProperty("client_id").GetString()}")))
            .GetProperty("require_second_factor").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public async Task The_policy_for_administrators_asks_an_administrator_for_a_second_factor_and_nobody_else()
    {
        await using var node = await CustomServer.StartAsync(new()
        {
            ["Admin:BootstrapClientSecret"] = AdminServer.BootstrapSecret,
            ["SecondFactors:Require"] = "Administrators",
        });
        using var api = node.CreateApiClient();
        using var admin = new HttpClient { BaseAddress = node.Issuer };
        admin.DefaultRequestHeaders.Authorization = new("Bearer", await api.ClientCredentialsTokenAsync("admin-cli", AdminServer.BootstrapSecret, "oauth.admin", waitForClient: true));
        var (clientId, redirectUri) = await CreateClientAsync(admin, ["openid"]);
        var person = await node.CreateUserAsync();
        var administrator = await node.CreateUserAsync();
        await GrantAdministratorAsync(admin, node, administrator);

        (await AuthorizeAsync(new BrowserFlow(node), Url(clientId, redirectUri, Pkce.Create(), "openid"), person))
            .ShouldGoBackToTheClient("the policy is for administrators").Should().ContainKey("code");
        (await AuthorizeAsync(new BrowserFlow(node), Url(clientId, redirectUri, Pkce.Create(), "openid"), administrator))
            .ShouldAskForASecondFactor("the policy asks every administrator for a second factor");
    }

    private static StringContent JsonContent(object value) => new(JsonSerializer.Serialize(value), System.Text.Encoding.UTF8, "application/json");
}
