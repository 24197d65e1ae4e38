using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OAuthServer.IntegrationTests.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Exchange;

/// <summary>The admin API sets, shows and refuses a client's token-exchange targets and refresh retry window.</summary>
public sealed class ExchangeAdministrationTests(AdminServer server) : IClassFixture<AdminServer>
{
    [Fact]
    public async Task The_admin_API_sets_and_shows_exchange_targets_and_the_retry_window()
    {
        using var admin = await server.AdminClientAsync();
        var created = await AdminServer.CreateClientAsync(admin, new
        {
            type = "confidential",
            grant_types = new[] { "client_credentials" },
            scopes = new[] { "orders" },
            token_exchange_audiences = new[] { "billing", "https://ledger.example/" },
            refresh_retry_window = 10,
        });
        var clientId = created.GetProperty("client_id").GetString()!;

        var view = await admin.GetFromJsonAsync<JsonElement>($"/admin/clients/{clientId}");
        view.GetProperty("token_exchange_audiences").EnumerateArray().Select(item => item.GetString()).Should().Equal("billing", "https://ledger.example/");
        view.GetProperty("refresh_retry_window").GetInt32().Should().Be(10);

        // PUT replaces the settings: without targets, the client loses token exchange altogether.
        using var updated = await admin.PutAsJsonAsync($"/admin/clients/{clientId}", new { type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "orders" } });
        updated.StatusCode.Should().Be(HttpStatusCode.OK);
        view = await admin.GetFromJsonAsync<JsonElement>($"/admin/clients/{clientId}");
        view.GetProperty("token_exchange_audiences").GetArrayLength().Should().Be(0);
        view.GetProperty("refresh_retry_window").ValueKind.Should().Be(JsonValueKind.Null);
    }

    [Theory]
    [InlineData("public", "billing", 0, "token_exchange_audiences")]
    [InlineData("confidential", "oauthserver", 0, "token_exchange_audiences[0]")]
    [InlineData("confidential", "billing", 61, "refresh_retry_window")]
    [InlineData("confidential", "billing", -1, "refresh_retry_window")]
    public async Task The_admin_API_refuses_what_the_rules_refuse(string type, string audience, int window, string field)
    {
        using var admin = await server.AdminClientAsync();
        using var response = await admin.PostAsJsonAsync("/admin/clients", new
        {
            type,
            redirect_uris = new[] { "https://app.example/cb" },
            token_exchange_audiences = new[] { audience },
            refresh_retry_window = window,
        });

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).Should().Contain(field);
    }
}
