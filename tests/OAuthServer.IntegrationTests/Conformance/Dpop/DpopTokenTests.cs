using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.Conformance.Dpop.DpopHttp;

namespace OAuthServer.IntegrationTests.Conformance.Dpop;

/// <summary>DPoP-bound tokens at the token endpoint (RFC 9449 §5, §6, §10), and every binding they carry.</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class DpopTokenTests(OAuthServerFactory server)
{
    [Theory]
    [InlineData("/.well-known/openid-configuration")]
    [InlineData("/.well-known/oauth-authorization-server")]
    public async Task Discovery_advertises_the_asymmetric_proof_algorithms(string path)
    {
        using var api = server.CreateApiClient();

        var document = await BrowserFlow.JsonAsync(await api.GetAsync(path));

        var algorithms = document.GetProperty("dpop_signing_alg_values_supported").EnumerateArray().Select(item => item.GetString()).ToList();
        algorithms.Should().Contain(["ES256", "RS256", "PS256", "ES384"]).And.NotContain(["none", "HS256"]);
    }

    [Fact]
    public async Task A_public_client_gets_a_DPoP_bound_token_with_code_PKCE_and_a_proof_and_refreshes_it_with_the_same_key()
    {
        using var key = DpopKey.Es256();
        var signedIn = await SignInAsync();
        using var api = server.CreateApiClient();

        var tokens = await (await PostAsync(api, "/connect/token", Redeem(signedIn), key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();

        tokens.GetProperty("token_type").GetString().Should().Be("DPoP");
        Jkt(tokens.GetProperty("access_token").GetString()!).Should().Be(key.Thumbprint, "cnf.jkt is the RFC 7638 thumbprint of the proof's key");
        var refreshed = await (await PostAsync(api, "/connect/token", Refresh(signedIn.ClientId, tokens.GetProperty("refresh_token").GetString()!),
            key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();
        refreshed.GetProperty("token_type").GetString().Should().Be("DPoP");
        Jkt(refreshed.GetProperty("access_token").GetString()!).Should().Be(key.Thumbprint);
        // The rotated refresh token is bound too: without a proof it is refused.
        await (await PostAsync(api, "/connect/token", Refresh(signedIn.ClientId, refreshed.GetProperty("refresh_token").GetString()!))).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task A_public_clients_bound_refresh_token_is_refused_with_another_key_or_without_a_proof_and_each_attempt_is_an_event()
    {
        using var key = DpopKey.Es256();
        using var stranger = DpopKey.Rs256();
        var signedIn = await SignInAsync();
        using var api = server.CreateApiClient();
        var tokens = await (await PostAsync(api, "/connect/token", Redeem(signedIn), key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();
        var refreshToken = tokens.GetProperty("refresh_token").GetString()!;

        await (await PostAsync(api, "/connect/token", Refresh(signedIn.ClientId, refreshToken), stranger.Proof("POST", TokenUrl(server.Issuer)))).ShouldFailWithAsync("invalid_grant");
        await (await PostAsync(api, "/connect/token", Refresh(signedIn.ClientId, refreshToken))).ShouldFailWithAsync("invalid_grant");

        (await EventCountAsync(server, "dpop.key_mismatch", signedIn.ClientId)).Should().Be(2);
        // Neither attempt spent the refresh token: its holder of the key still refreshes.
        await (await PostAsync(api, "/connect/token", Refresh(signedIn.ClientId, refreshToken), key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();
    }

    [Fact]
    public async Task A_confidential_clients_refresh_token_is_not_bound_but_its_new_access_tokens_are_when_it_sends_a_proof()
    {
        using var first = DpopKey.Es256();
        using var second = DpopKey.Rs256();
        var (clientId, redirectUri) = await CodeClientAsync(server, ClientKind.Confidential);
        var signedIn = await SignedIn.ForAsync(server, await server.CreateUserAsync(), clientId, redirectUri, "openid offline_access api");
        using var api = server.CreateApiClient();
        var redeem = Redeem(signedIn);
        redeem["client_secret"] = Secret;
        var tokens = await (await PostAsync(api, "/connect/token", redeem, first.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();
        Jkt(tokens.GetProperty("access_token").GetString()!).Should().Be(first.Thumbprint);

        // RFC 9449 §5: the client authenticates on every refresh, so its refresh token stays unbound.
        var bearer = await (await PostAsync(api, "/connect/token", Refresh(clientId, tokens.GetProperty("refresh_token").GetString()!, confidential: true))).ShouldSucceedAsync();
        bearer.GetProperty("token_type").GetString().Should().Be("Bearer");
        Jkt(bearer.GetProperty("access_token").GetString()!).Should().BeNull();
        var rebound = await (await PostAsync(api, "/connect/token", Refresh(clientId, bearer.GetProperty("refresh_token").GetString()!, confidential: true),
            second.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();
        rebound.GetProperty("token_type").GetString().Should().Be("DPoP");
        Jkt(rebound.GetProperty("access_token").GetString()!).Should().Be(second.Thumbprint);
    }

    [Fact]
    public async Task Client_credentials_with_an_RS256_proof_gets_a_bound_token_whose_introspection_returns_cnf()
    {
        using var key = DpopKey.Rs256();
        var clientId = await MachineClientAsync(server);
        using var api = server.CreateApiClient();

        var tokens = await (await PostAsync(api, "/connect/token", ClientCredentials(clientId), key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();

        tokens.GetProperty("token_type").GetString().Should().Be("DPoP");
        var accessToken = tokens.GetProperty("access_token").GetString()!;
        Jkt(accessToken).Should().Be(key.Thumbprint);
        var introspection = await IntrospectAsync(api, clientId, accessToken);
        introspection.GetProperty("active").GetBoolean().Should().BeTrue();
        introspection.GetProperty("cnf").GetProperty("jkt").GetString().Should().Be(key.Thumbprint);
    }

    [Fact]
    public async Task Without_a_proof_tokens_stay_bearer_tokens()
    {
        var clientId = await MachineClientAsync(server);
        using var api = server.CreateApiClient();

        var tokens = await (await PostAsync(api, "/connect/token", ClientCredentials(clientId))).ShouldSucceedAsync();

        tokens.GetProperty("token_type").GetString().Should().Be("Bearer");
        Jkt(tokens.GetProperty("access_token").GetString()!).Should().BeNull();
        (await IntrospectAsync(api, clientId, tokens.GetProperty("access_token").GetString()!)).TryGetProperty("cnf", out _).Should().BeFalse();
    }

    [Fact]
    public async Task A_code_requested_with_dpop_jkt_redeems_only_with_a_proof_of_that_key()
    {
        using var key = DpopKey.Es256();
        using var stranger = DpopKey.Es256();
        using var api = server.CreateApiClient();

        var bound = await SignInAsync(key.Thumbprint);
        await (await PostAsync(api, "/connect/token", Redeem(bound), stranger.Proof("POST", TokenUrl(server.Issuer)))).ShouldFailWithAsync("invalid_grant");
        await (await PostAsync(api, "/connect/token", Redeem(bound))).ShouldFailWithAsync("invalid_grant");
        var tokens = await (await PostAsync(api, "/connect/token", Redeem(bound), key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();

        Jkt(tokens.GetProperty("access_token").GetString()!).Should().Be(key.Thumbprint);
        (await EventCountAsync(server, "dpop.key_mismatch", bound.ClientId)).Should().Be(2);
    }

    [Theory]
    [InlineData("short")]
    [InlineData("not/base64url+characters-but-forty-three-long")]
    public async Task A_malformed_dpop_jkt_is_refused_at_authorize_and_at_PAR(string jkt)
    {
        var (clientId, redirectUri) = await CodeClientAsync(server);
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["dpop_jkt"] = jkt;
        using var api = server.CreateApiClient();

        var pushed = await api.PostAsync("/connect/par", new FormUrlEncodedContent(parameters.ToDictionary(pair => pair.Key, pair => pair.Value!)));
        var authorize = await new BrowserFlow(server).Browser.GetAsync(BrowserFlow.AuthorizeUrl(parameters));

        pushed.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await ErrorAsync(pushed)).GetProperty("error").GetString().Should().Be("invalid_request");
        // At authorize: refused before any sign-in, shown by the server or sent back to the client; never a code.
        if (authorize.StatusCode == HttpStatusCode.BadRequest)
        {
            (await authorize.Content.ReadAsStringAsync()).Should().Contain("invalid_request");
        }
        else
        {
            authorize.StatusCode.Should().Be(HttpStatusCode.Redirect);
            BrowserFlow.Query(authorize.Headers.Location!)["error"].Should().Be("invalid_request", authorize.Headers.Location!.ToString());
        }
    }

    [Fact]
    public async Task A_code_pushed_with_dpop_jkt_or_with_a_proof_at_PAR_redeems_only_with_that_key()
    {
        using var key = DpopKey.Es256();
        using var stranger = DpopKey.Rs256();
        using var api = server.CreateApiClient();
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await CodeClientAsync(server);

        foreach (var viaProof in new[] { false, true })
        {
            var pkce = Pkce.Create();
            var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce).ToDictionary(pair => pair.Key, pair => pair.Value!);
            if (!viaProof)
            {
                parameters["dpop_jkt"] = key.Thumbprint;
            }

            var pushed = await PostAsync(api, "/connect/par", parameters, viaProof ? [key.Proof("POST", server.Issuer + "connect/par")] : []);
            pushed.StatusCode.Should().Be(HttpStatusCode.Created, await pushed.Content.ReadAsStringAsync());
            var requestUri = (await BrowserFlow.JsonAsync(pushed)).GetProperty("request_uri").GetString()!;
            var redirect = await new BrowserFlow(server).SignInAsync($"/connect/authorize?client_id={clientId}&request_uri={Uri.EscapeDataString(requestUri)}", email, TestData.Password);
            var signedIn = new SignedIn(clientId, redirectUri, pkce, BrowserFlow.Query(redirect.Headers.Location!)["code"]);

            await (await PostAsync(api, "/connect/token", Redeem(signedIn), stranger.Proof("POST", TokenUrl(server.Issuer)))).ShouldFailWithAsync("invalid_grant");
            var tokens = await (await PostAsync(api, "/connect/token", Redeem(signedIn), key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();
            Jkt(tokens.GetProperty("access_token").GetString()!).Should().Be(key.Thumbprint, viaProof ? "the PAR proof's key binds the code" : "dpop_jkt binds the code");
        }
    }

    [Fact]
    public async Task A_PAR_proof_must_be_of_the_key_dpop_jkt_names()
    {
        using var key = DpopKey.Es256();
        using var other = DpopKey.Es256();
        var (clientId, redirectUri) = await CodeClientAsync(server);
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create()).ToDictionary(pair => pair.Key, pair => pair.Value!);
        parameters["dpop_jkt"] = other.Thumbprint;
        using var api = server.CreateApiClient();

        var pushed = await PostAsync(api, "/connect/par", parameters, key.Proof("POST", server.Issuer + "connect/par"));

        pushed.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await ErrorAsync(pushed)).GetProperty("error").GetString().Should().Be("invalid_dpop_proof");
    }

    [Fact]
    public async Task A_client_registered_as_DPoP_bound_gets_no_token_without_a_proof()
    {
        using var key = DpopKey.Es256();
        var machine = await MachineClientAsync(server, dpopRequired: true);
        var (publicClient, redirectUri) = await CodeClientAsync(server, dpopRequired: true);
        using var api = server.CreateApiClient();

        await (await PostAsync(api, "/connect/token", ClientCredentials(machine))).ShouldFailWithAsync("invalid_request");
        var signedIn = await SignedIn.ForAsync(server, await server.CreateUserAsync(), publicClient, redirectUri, "openid offline_access api");
        await (await PostAsync(api, "/connect/token", Redeem(signedIn))).ShouldFailWithAsync("invalid_request");

        (await (await PostAsync(api, "/connect/token", ClientCredentials(machine), key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync())
            .GetProperty("token_type").GetString().Should().Be("DPoP");
        (await server.WithScopeAsync(services => services.GetRequiredService<ClientRegistry>().GetAsync(machine)))!.DpopBoundAccessTokens.Should().BeTrue();
    }

    // The variation nobody designed for: a DPoP-bound admin token. The admin API takes bearer tokens only, so
    // it must refuse the bound token (RFC 9449 section 7.2) rather than fail on a confirmation it doesn't know.
    [Fact]
    public async Task A_DPoP_bound_admin_token_is_refused_by_the_bearer_only_admin_API_with_401_not_500()
    {
        using var key = DpopKey.Es256();
        var clientId = await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = "dpop-admin-" + Guid.NewGuid().ToString("N")[..12],
            Kind = ClientKind.Confidential,
            Secret = Secret,
            AllowClientCredentials = true,
            Scopes = [AdminScopes.Admin],
        });
        using var api = server.CreateApiClient();
        var form = ClientCredentials(clientId);
        form["scope"] = AdminScopes.Admin;
        var bound = (await (await PostAsync(api, "/connect/token", form, key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync()).GetProperty("access_token").GetString()!;
        var bearer = (await (await PostAsync(api, "/connect/token", form)).ShouldSucceedAsync()).GetProperty("access_token").GetString()!;

        using var refused = new HttpRequestMessage(HttpMethod.Get, "/admin/clients");
        refused.Headers.Authorization = new("Bearer", bound);
        using var accepted = new HttpRequestMessage(HttpMethod.Get, "/admin/clients");
        accepted.Headers.Authorization = new("Bearer", bearer);

        (await api.SendAsync(refused)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await api.SendAsync(accepted)).StatusCode.Should().Be(HttpStatusCode.OK, "the same client's bearer token is accepted");
    }

    [Fact]
    public async Task The_admin_API_registers_and_shows_a_DPoP_bound_client_whose_token_requests_then_need_a_proof()
    {
        var adminClient = await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = "dpop-admin-" + Guid.NewGuid().ToString("N")[..12],
            Kind = ClientKind.Confidential,
            Secret = Secret,
            AllowClientCredentials = true,
            Scopes = [AdminScopes.Admin],
        });
        using var api = server.CreateApiClient();
        var form = ClientCredentials(adminClient);
        form["scope"] = AdminScopes.Admin;
        var adminToken = (await (await PostAsync(api, "/connect/token", form)).ShouldSucceedAsync()).GetProperty("access_token").GetString()!;
        using var admin = server.CreateApiClient();
        admin.DefaultRequestHeaders.Authorization = new("Bearer", adminToken);

        using var created = await admin.PostAsJsonAsync("/admin/clients", new { type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "api" }, dpop_bound_access_tokens = true });
        created.StatusCode.Should().Be(HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var body = await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        var clientId = body.GetProperty("client_id").GetString()!;
        var secret = body.GetProperty("client_secret").GetString()!;
        (await admin.GetFromJsonAsync<System.Text.Json.JsonElement>($"/admin/clients/{clientId}")).GetProperty("dpop_bound_access_tokens").GetBoolean().Should().BeTrue();

        var request = new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret, ["scope"] = "api" };
        await (await PostAsync(api, "/connect/token", request)).ShouldFailWithAsync("invalid_request");
        using var key = DpopKey.Es256();
        await (await PostAsync(api, "/connect/token", request, key.Proof("POST", TokenUrl(server.Issuer)))).ShouldSucceedAsync();
    }

    private async Task<SignedIn> SignInAsync(string? dpopJkt = null)
    {
        var (clientId, redirectUri) = await CodeClientAsync(server);
        var email = await server.CreateUserAsync();
        if (dpopJkt is null)
        {
            return await SignedIn.ForAsync(server, email, clientId, redirectUri, "openid offline_access api");
        }

        var pkce = Pkce.Create();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce);
        parameters["dpop_jkt"] = dpopJkt;
        var redirect = await new BrowserFlow(server).SignInAsync(BrowserFlow.AuthorizeUrl(parameters), email, TestData.Password);
        return new SignedIn(clientId, redirectUri, pkce, BrowserFlow.Query(redirect.Headers.Location!)["code"]);
    }
}
