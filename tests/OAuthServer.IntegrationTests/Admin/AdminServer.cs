using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>
/// A server with the admin bootstrap client configured and dynamic registration on, shared by one test class.
/// Every call goes over HTTP with tokens this server issued, exactly as an operator's script would.
/// </summary>
public sealed class AdminServer : IAsyncLifetime
{
    public const string BootstrapSecret = "bootstrap-secret-for-tests-0123456789abcdef";

    public CustomServer Node { get; private set; } = null!;

    public async Task InitializeAsync() => Node = await CustomServer.StartAsync(new()
    {
        ["Admin:BootstrapClientSecret"] = BootstrapSecret,
        ["Admin:DynamicRegistrationEnabled"] = "true",
    });

    public async Task DisposeAsync() => await Node.DisposeAsync();

    /// <summary>An HTTP client carrying an admin-cli access token (waiting for the bootstrap to finish).</summary>
    public async Task<HttpClient> AdminClientAsync()
    {
        var token = await ClientCredentialsTokenAsync("admin-cli", BootstrapSecret, "oauth.admin", waitForClient: true);
        return Bearer(token);
    }

    public HttpClient Bearer(string? token)
    {
        var client = Node.CreateApiClient();
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async Task<string> ClientCredentialsTokenAsync(string clientId, string secret, string scope, bool waitForClient = false)
    {
        using var api = Node.CreateApiClient();
        return await api.ClientCredentialsTokenAsync(clientId, secret, scope, waitForClient);
    }

    /// <summary>Registers a client through the admin API and returns the created body (client_id, client_secret).</summary>
    public static async Task<JsonElement> CreateClientAsync(HttpClient admin, object request)
    {
        using var response = await admin.PostAsJsonAsync("/admin/clients", request);
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(HttpStatusCode.Created, body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>A confidential machine client with the given scopes, and its secret.</summary>
    public static async Task<(string ClientId, string Secret)> CreateMachineClientAsync(HttpClient admin, string[] scopes, int? accessTokenLifetime = null)
    {
        var created = await CreateClientAsync(admin, new
        {
            type = "confidential",
            grant_types = new[] { "client_credentials" },
            scopes,
            access_token_lifetime = accessTokenLifetime,
        });
        return (created.GetProperty("client_id").GetString()!, created.GetProperty("client_secret").GetString()!);
    }
}

/// <summary>The README's curl script, run as an operator would run it.</summary>
public sealed class AdminQuickstartScriptTests(AdminServer server) : IClassFixture<AdminServer>
{
    [Fact]
    public async Task The_curl_quickstart_registers_a_SPA_and_a_user_and_signs_in()
    {
        await server.AdminClientAsync(); // the bootstrap client exists
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "OAuthServer.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("The repository root was not found.");
        }

        var email = TestData.NewEmail();
        var start = new System.Diagnostics.ProcessStartInfo("bash", [Path.Combine(root, "ops", "admin-quickstart.sh"), server.Node.Issuer.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["ADMIN_SECRET"] = AdminServer.BootstrapSecret, ["EMAIL"] = email },
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        process.ExitCode.Should().Be(0, await errors);
        var userInfo = JsonDocument.Parse(await output).RootElement;
        userInfo.GetProperty("email").GetString().Should().Be(email);
        (await errors).Should().Contain("signed in as " + email);
    }
}
