using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>
/// Threat model 3.1: an initial access token (oauth.register) creates third-party clients that sign users in,
/// nothing more. The attack: register a client_credentials client with an existing API scope and get API tokens
/// with no user and no consent. And no path may create a client whose id has the form of a user's id.
/// </summary>
public sealed class RegistrationGrantTests(AdminServer server) : IClassFixture<AdminServer>
{
    [Fact]
    public async Task Registration_never_hands_out_client_credentials_or_API_scopes_the_operator_did_not_open()
    {
        using var admin = await server.AdminClientAsync();
        await AdminServer.CreateMachineClientAsync(admin, ["api"]); // the api scope exists
        using var registration = await RegistrarAsync(admin);

        foreach (var request in new object[]
        {
            new { grant_types = new[] { "client_credentials" }, scope = "api" }, // the attack
            new { grant_types = new[] { "client_credentials" } },
            new { grant_types = new[] { "client_credentials" }, scope = "openid" },
            new { grant_types = new[] { "authorization_code", "client_credentials" }, redirect_uris = new[] { "https://rp.example.com/cb" } },
            new { grant_types = new[] { "CLIENT_CREDENTIALS" }, scope = "api" },
            new { grant_types = new[] { "urn:ietf:params:oauth:grant-type:jwt-bearer" }, redirect_uris = new[] { "https://rp.example.com/cb" } },
            new { redirect_uris = new[] { "https://rp.example.com/cb" }, scope = "openid api" },
            new { redirect_uris = new[] { "https://rp.example.com/cb" }, scope = "api" },
            new { redirect_uris = new[] { "https://rp.example.com/cb" }, token_endpoint_auth_method = "client_secret_post", scope = "openid oauth.register" },
        })
        {
            using var response = await registration.PostAsJsonAsync("/connect/register", request);
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest, "{0} must be refused: {1}", JsonSerializer.Serialize(request), body);
            JsonDocument.Parse(body).RootElement.GetProperty("error").GetString().Should().Be("invalid_client_metadata");
        }

        // What registration does give: a confidential code-flow client with explicit consent, and no
        // client_credentials even with the secret it got.
        using var created = await registration.PostAsJsonAsync("/connect/register", new
        {
            redirect_uris = new[] { "https://rp.example.com/cb" },
            token_endpoint_auth_method = "client_secret_post",
            scope = "openid profile email offline_access",
        });
        var client = await created.Content.ReadFromJsonAsync<JsonElement>();
        created.StatusCode.Should().Be(HttpStatusCode.Created, client.GetRawText());
        client.GetProperty("grant_types").EnumerateArray().Select(grant => grant.GetString()).Should().BeEquivalentTo("authorization_code", "refresh_token");
        var clientId = client.GetProperty("client_id").GetString()!;
        (await admin.GetFromJsonAsync<JsonElement>($"/admin/clients/{clientId}")).GetProperty("consent").GetString().Should().Be("explicit");

        using var api = server.Node.CreateApiClient();
        foreach (var scope in new[] { "api", "openid", "" })
        {
            using var token = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials",
                ["client_id"] = clientId,
                ["client_secret"] = client.GetProperty("client_secret").GetString()!,
                ["scope"] = scope,
            }));
            token.StatusCode.Should().Be(HttpStatusCode.BadRequest, "scope '{0}': {1}", scope, await token.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task An_operator_can_open_an_API_scope_to_registered_clients_and_they_still_need_consent()
    {
        await using var node = await CustomServer.StartAsync(new()
        {
            ["Admin:BootstrapClientSecret"] = AdminServer.BootstrapSecret,
            ["Admin:DynamicRegistrationEnabled"] = "true",
            ["Admin:DynamicRegistrationScopes:0"] = "api",
        });
        using var api = node.CreateApiClient();
        using var admin = Bearer(node, await api.ClientCredentialsTokenAsync("admin-cli", AdminServer.BootstrapSecret, "oauth.admin", waitForClient: true));
        await AdminServer.CreateMachineClientAsync(admin, ["api", "reports"]);
        var (registrar, secret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.register"]);
        using var registration = Bearer(node, await api.ClientCredentialsTokenAsync(registrar, secret, "oauth.register"));

        using var opened = await registration.PostAsJsonAsync("/connect/register", new { redirect_uris = new[] { "https://rp.example.com/cb" }, token_endpoint_auth_method = "none", scope = "openid api" });
        var body = await opened.Content.ReadFromJsonAsync<JsonElement>();
        opened.StatusCode.Should().Be(HttpStatusCode.Created, body.GetRawText());
        body.GetProperty("scope").GetString().Should().Be("openid api");
        (await admin.GetFromJsonAsync<JsonElement>($"/admin/clients/{body.GetProperty("client_id").GetString()}")).GetProperty("consent").GetString().Should().Be("explicit");

        using var closed = await registration.PostAsJsonAsync("/connect/register", new { redirect_uris = new[] { "https://rp.example.com/cb" }, token_endpoint_auth_method = "none", scope = "openid reports" });
        closed.StatusCode.Should().Be(HttpStatusCode.BadRequest, "only the scopes the operator listed are open");
        using var machine = await registration.PostAsJsonAsync("/connect/register", new { grant_types = new[] { "client_credentials" }, scope = "api" });
        machine.StatusCode.Should().Be(HttpStatusCode.BadRequest, "an opened scope is still never given to a client without a user");
    }

    [Theory]
    [InlineData("oauth.admin")]
    [InlineData("oauth.register")]
    [InlineData("bad scope")]
    [InlineData("")]
    public void A_privileged_or_malformed_registration_scope_is_refused_at_start_up(string scope)
    {
        var result = new AdminOptionsValidator().Validate(null, new AdminOptions { DynamicRegistrationScopes = [scope] });

        result.Failed.Should().BeTrue();
        result.FailureMessage.Should().Contain("Admin:DynamicRegistrationScopes");
    }

    [Fact]
    public async Task A_server_configured_to_open_a_privileged_scope_does_not_start()
    {
        var failure = await Record.ExceptionAsync(async () =>
        {
            await using var node = await CustomServer.StartAsync(new() { ["Admin:DynamicRegistrationScopes:0"] = "oauth.admin" });
        });

        failure.Should().NotBeNull();
        Flatten(failure!).OfType<OptionsValidationException>().SelectMany(exception => exception.Failures)
            .Should().Contain(message => message.Contains("Admin:DynamicRegistrationScopes", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_id_with_the_form_of_a_user_id_is_refused_by_the_admin_API_and_every_other_path()
    {
        using var admin = await server.AdminClientAsync();
        var id = Guid.NewGuid();

        foreach (var clientId in new[] { id.ToString(), id.ToString("N"), id.ToString().ToUpperInvariant(), id.ToString("N").ToUpperInvariant() })
        {
            using var response = await admin.PostAsJsonAsync("/admin/clients", new
            {
                client_id = clientId,
                type = "confidential",
                grant_types = new[] { "client_credentials" },
                scopes = new[] { "api" },
            });
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest, clientId);
            (await response.Content.ReadAsStringAsync()).Should().Contain("GUID");
            (await admin.GetAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        }

        // The CLI and the development seed register through the same registry.
        var problems = await server.Node.WithScopeAsync(services => services.GetRequiredService<ClientRegistry>().RegisterAsync(new ClientRegistration
        {
            ClientId = id.ToString(),
            Kind = ClientKind.Confidential,
            Secret = ClientRegistry.NewSecret(),
            AllowClientCredentials = true,
        }));
        problems.Problems.Should().ContainSingle(problem => problem.Field == "client_id");

        // Names that merely contain hex digits and dashes are still fine.
        await AdminServer.CreateClientAsync(admin, new { client_id = "svc-" + id.ToString("N")[..12], type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "api" } });
    }

    private async Task<HttpClient> RegistrarAsync(HttpClient admin)
    {
        var (registrar, secret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.register"]);
        return server.Bearer(await server.ClientCredentialsTokenAsync(registrar, secret, "oauth.register"));
    }

    private static HttpClient Bearer(CustomServer node, string token)
    {
        var client = node.CreateApiClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static IEnumerable<Exception> Flatten(Exception exception) => exception is AggregateException aggregate
        ? aggregate.InnerExceptions.SelectMany(Flatten)
        : exception.InnerException is { } inner ? [exception, .. Flatten(inner)] : [exception];
}
