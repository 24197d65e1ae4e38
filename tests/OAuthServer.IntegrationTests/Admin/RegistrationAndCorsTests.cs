using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>RFC 7591 dynamic registration behind an initial access token, and CORS derived from registrations.</summary>
public sealed class RegistrationAndCorsTests(AdminServer server) : IClassFixture<AdminServer>
{
    [Fact]
    public async Task Dynamic_registration_needs_an_initial_access_token_and_is_advertised_in_discovery()
    {
        using var anonymous = server.Bearer(null);
        var discovery = await anonymous.GetFromJsonAsync<JsonElement>("/.well-known/openid-configuration");
        discovery.GetProperty("registration_endpoint").GetString().Should().Be(new Uri(server.Node.Issuer, "connect/register").AbsoluteUri);
        var request = new { redirect_uris = new[] { "https://rp.example.com/cb" }, client_name = "Third party", token_endpoint_auth_method = "none", scope = "openid profile" };

        (await anonymous.PostAsJsonAsync("/connect/register", request)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        using var admin = await server.AdminClientAsync();
        await AdminServer.CreateMachineClientAsync(admin, ["api"]); // makes sure the api scope exists
        using var adminToken = server.Bearer(await server.ClientCredentialsTokenAsync("admin-cli", AdminServer.BootstrapSecret, "oauth.admin"));
        (await adminToken.PostAsJsonAsync("/connect/register", request)).StatusCode.Should().Be(HttpStatusCode.Forbidden, "oauth.admin is not an initial access token");

        var (registrar, secret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.register"]);
        using var registration = server.Bearer(await server.ClientCredentialsTokenAsync(registrar, secret, "oauth.register"));
        using var response = await registration.PostAsJsonAsync("/connect/register", request);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();

        response.StatusCode.Should().Be(HttpStatusCode.Created, body.GetRawText());
        body.GetProperty("client_id").GetString().Should().NotBeNullOrEmpty();
        body.TryGetProperty("client_secret", out var publicSecret).Should().BeTrue();
        publicSecret.ValueKind.Should().Be(JsonValueKind.Null, "a public client has no secret");
        body.GetProperty("redirect_uris")[0].GetString().Should().Be("https://rp.example.com/cb");
        body.GetProperty("token_endpoint_auth_method").GetString().Should().Be("none");
        body.GetProperty("scope").GetString().Should().Be("openid profile");
        var view = await admin.GetFromJsonAsync<JsonElement>($"/admin/clients/{body.GetProperty("client_id").GetString()}");
        view.GetProperty("consent").GetString().Should().Be("explicit", "a dynamically registered client is a third party");
    }

    [Fact]
    public async Task Dynamic_registration_applies_the_admin_rules_and_never_grants_privileges()
    {
        using var admin = await server.AdminClientAsync();
        await AdminServer.CreateMachineClientAsync(admin, ["api"]); // makes sure the api scope exists
        var (registrar, secret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.register"]);
        using var registration = server.Bearer(await server.ClientCredentialsTokenAsync(registrar, secret, "oauth.register"));

        foreach (var (request, error) in new (object, string)[]
        {
            (new { redirect_uris = new[] { "http://evil.example.com/cb" } }, "invalid_redirect_uri"),
            (new { redirect_uris = new[] { "https://rp.example.com/cb" }, scope = "openid oauth.admin" }, "invalid_client_metadata"),
            (new { grant_types = new[] { "client_credentials" }, scope = "oauth.register" }, "invalid_client_metadata"),
            (new { redirect_uris = new[] { "https://rp.example.com/cb" }, scope = "never-defined-scope" }, "invalid_client_metadata"),
            (new { redirect_uris = new[] { "https://rp.example.com/cb" }, response_types = new[] { "token" } }, "invalid_client_metadata"),
            (new { grant_types = new[] { "client_credentials" }, token_endpoint_auth_method = "none" }, "invalid_client_metadata"),
        })
        {
            using var response = await registration.PostAsJsonAsync("/connect/register", request);
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
            (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString().Should().Be(error, JsonSerializer.Serialize(request));
        }

        using var confidential = await registration.PostAsJsonAsync("/connect/register", new { redirect_uris = new[] { "https://rp.example.com/cb" }, token_endpoint_auth_method = "client_secret_basic" });
        var created = await confidential.Content.ReadFromJsonAsync<JsonElement>();
        confidential.StatusCode.Should().Be(HttpStatusCode.Created, created.GetRawText());
        created.GetProperty("client_secret").GetString().Should().NotBeNullOrEmpty("a confidential client gets its secret once");
    }

    [Fact]
    public async Task Registration_is_absent_unless_enabled()
    {
        await using var node = await CustomServer.StartAsync();
        using var api = node.CreateApiClient();
        (await api.PostAsJsonAsync("/connect/register", new { redirect_uris = new[] { "https://rp.example.com/cb" } })).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await api.GetFromJsonAsync<JsonElement>("/.well-known/openid-configuration")).TryGetProperty("registration_endpoint", out _).Should().BeFalse();
        (await api.GetAsync("/admin/clients")).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "without a bootstrap secret there is no admin client at all");
    }

    [Fact]
    public async Task CORS_allows_exactly_the_registered_SPA_origins_on_the_token_endpoint()
    {
        using var admin = await server.AdminClientAsync();
        var origin = $"https://spa-{Guid.NewGuid():N}.example.com";
        await AdminServer.CreateClientAsync(admin, new { type = "public", redirect_uris = new[] { origin + "/callback" }, grant_types = new[] { "authorization_code", "refresh_token" } });
        using var api = server.Node.CreateApiClient();

        foreach (var endpoint in new[] { "/connect/token", "/connect/revoke", "/connect/userinfo" })
        {
            using var allowed = await PreflightAsync(api, endpoint, origin);
            allowed.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal(origin);
            allowed.Headers.Contains("Access-Control-Allow-Credentials").Should().BeFalse();

            using var refused = await PreflightAsync(api, endpoint, "https://attacker.example.net");
            refused.Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse();
        }

        // A real cross-origin POST from the SPA's origin can read the (error) answer.
        using var post = new HttpRequestMessage(HttpMethod.Post, "/connect/token") { Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "refresh_token" }) };
        post.Headers.Add("Origin", origin);
        using var answer = await api.SendAsync(post);
        answer.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal(origin);
    }

    [Fact]
    public async Task CORS_lets_anyone_read_discovery_and_JWKS_and_nothing_else()
    {
        using var api = server.Node.CreateApiClient();
        foreach (var path in new[] { "/.well-known/openid-configuration", "/.well-known/jwks.json" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add("Origin", "https://any.example.org");
            using var response = await api.SendAsync(request);
            response.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal("*");
        }

        foreach (var path in new[] { "/account/login", "/admin/clients", "/connect/authorize", "/connect/introspect" })
        {
            using var preflight = await PreflightAsync(api, path, "https://any.example.org");
            preflight.Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse(path);
        }
    }

    private static async Task<HttpResponseMessage> PreflightAsync(HttpClient api, string path, string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "content-type");
        return await api.SendAsync(request);
    }
}
