using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>
/// The configured bootstrap client is registered like any other client: a client.created security event and an
/// audit row, once; a changed configured secret is a secret rotation with its own event, and the old one stops working.
/// </summary>
public sealed class BootstrapClientRegistrationTests
{
    private const string OtherSecret = "another-bootstrap-secret-for-tests-9876543210";

    [Fact]
    public async Task The_bootstrap_client_raises_client_created_once_and_appears_in_the_audit_trail()
    {
        await using var first = await CustomServer.StartAsync(new() { ["Admin:BootstrapClientSecret"] = AdminServer.BootstrapSecret });
        using var api = first.CreateApiClient();
        using var admin = Bearer(first, await api.ClientCredentialsTokenAsync("admin-cli", AdminServer.BootstrapSecret, "oauth.admin", waitForClient: true));

        (await EventsAsync(first, "client.created")).Should().Be(1);
        var audit = await admin.GetFromJsonAsync<JsonElement>("/admin/audit?limit=500");
        audit.GetProperty("items").EnumerateArray()
            .Where(item => item.GetProperty("target_type").GetString() == "client" && item.GetProperty("target_id").GetString() == "admin-cli")
            .Select(item => (item.GetProperty("actor").GetString(), item.GetProperty("action").GetString()))
            .Should().Equal(("bootstrap", "client.created"));

        // A restart with a new configured secret: the same client gets it, as a rotation; it is not created again.
        await using var second = await CustomServer.StartAsync(new() { ["Admin:BootstrapClientSecret"] = OtherSecret }, first.ConnectionString);
        using var secondApi = second.CreateApiClient();
        (await secondApi.ClientCredentialsTokenAsync("admin-cli", OtherSecret, "oauth.admin", waitForClient: true)).Should().NotBeNullOrEmpty();

        (await EventsAsync(second, "client.created")).Should().Be(1);
        (await EventsAsync(second, "client.secret_rotated")).Should().Be(1);
        var refused = async () => await secondApi.ClientCredentialsTokenAsync("admin-cli", AdminServer.BootstrapSecret, "oauth.admin");
        (await refused.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Contain("invalid_client");
    }

    private static Task<int> EventsAsync(OAuthServerFactory node, string type) => node.WithScopeAsync(services =>
        services.GetRequiredService<OAuthDbContext>().SecurityEvents.CountAsync(item => item.Type == type && item.ClientId == "admin-cli"));

    private static HttpClient Bearer(CustomServer node, string token)
    {
        var client = node.CreateApiClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}
