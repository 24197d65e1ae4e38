using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>
/// The admin API, the CLI (the server binary in its own process, on the same database) and RFC 7591 registration
/// refuse a client by the same rule, in the same words, each in its own shape: a ValidationProblem field error,
/// an error line and exit code 1, an RFC 7591 error.
/// </summary>
public sealed class OneSetOfClientRulesTests(AdminServer server) : IClassFixture<AdminServer>
{
    [Fact]
    public async Task A_web_client_with_a_private_use_redirect_is_refused_by_the_API_the_CLI_and_registration_in_the_same_words()
    {
        const string redirectUri = "com.example.app:/cb";
        using var admin = await server.AdminClientAsync();
        var clientId = "rules-" + Guid.NewGuid().ToString("N")[..8];

        using var api = await admin.PostAsJsonAsync("/admin/clients", new { client_id = clientId, type = "public", redirect_uris = new[] { redirectUri } });
        api.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var apiMessage = (await api.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").GetProperty("redirect_uris[0]").EnumerateArray().Single().GetString();

        var cli = await RunCliAsync(["clients", "add", "--client-id", clientId, "--type", "public", "--redirect-uri", redirectUri]);
        cli.ExitCode.Should().Be(1, cli.Output);

        using var registration = await RegistrarAsync(admin);
        using var registered = await registration.PostAsJsonAsync("/connect/register", new { redirect_uris = new[] { redirectUri }, token_endpoint_auth_method = "none" });
        registered.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var error = await registered.Content.ReadFromJsonAsync<JsonElement>();
        error.GetProperty("error").GetString().Should().Be("invalid_redirect_uri");

        apiMessage.Should().Contain("only native clients");
        cli.Error.Split('\n').Select(line => line.TrimEnd('\r')).Where(line => line.StartsWith("error:", StringComparison.Ordinal))
            .Should().Equal($"error: {apiMessage}");
        error.GetProperty("error_description").GetString().Should().Be(apiMessage);
        (await admin.GetAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.NotFound, "no path created it");
    }

    [Fact]
    public async Task A_taken_client_id_is_409_over_the_API_and_exit_1_over_the_CLI_whichever_path_took_it()
    {
        using var admin = await server.AdminClientAsync();
        var byApi = "taken-api-" + Guid.NewGuid().ToString("N")[..8];
        var byCli = "taken-cli-" + Guid.NewGuid().ToString("N")[..8];
        await AdminServer.CreateClientAsync(admin, new { client_id = byApi, type = "public", redirect_uris = new[] { "https://taken.example.com/cb" } });
        var first = await RunCliAsync(["clients", "add", "--client-id", byCli, "--type", "public", "--redirect-uri", "https://taken.example.com/cb"]);
        first.ExitCode.Should().Be(0, first.Error);

        foreach (var clientId in new[] { byApi, byCli })
        {
            using var again = await admin.PostAsJsonAsync("/admin/clients", new { client_id = clientId, type = "public", redirect_uris = new[] { "https://other.example.com/cb" } });
            again.StatusCode.Should().Be(HttpStatusCode.Conflict, clientId);
            (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString().Should().Contain("already exists");

            var cli = await RunCliAsync(["clients", "add", "--client-id", clientId, "--type", "public", "--redirect-uri", "https://other.example.com/cb"]);
            cli.ExitCode.Should().Be(1, clientId);
            cli.Error.Should().Contain($"A client with client_id '{clientId}' already exists.");
        }

        var kept = await admin.GetFromJsonAsync<JsonElement>($"/admin/clients/{byCli}");
        kept.GetProperty("redirect_uris").EnumerateArray().Select(uri => uri.GetString()).Should().Equal("https://taken.example.com/cb");
    }

    private async Task<HttpClient> RegistrarAsync(HttpClient admin)
    {
        var (registrar, secret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.register"]);
        return server.Bearer(await server.ClientCredentialsTokenAsync(registrar, secret, "oauth.register"));
    }

    private Task<(int ExitCode, string Output, string Error)> RunCliAsync(string[] args) => ServerBinary.RunAsync(args, new Dictionary<string, string>
    {
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
        ["DOTNET_ENVIRONMENT"] = "Production",
        ["Database__Provider"] = "Postgres",
        ["ConnectionStrings__OAuthServer"] = server.Node.ConnectionString,
        ["Logging__LogLevel__Default"] = "Warning",
    });
}
