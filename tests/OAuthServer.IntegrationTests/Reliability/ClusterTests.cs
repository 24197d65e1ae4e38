using System.Net.Http.Json;
using System.Text.Json;
using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Reliability;

/// <summary>
/// Two processes of the server on one PostgreSQL, Redis, NATS and key folder behave as one server: what
/// happens at one node (a token, a revocation, a lockout) holds at the other.
/// </summary>
public sealed class ClusterTests(ClusterNodes cluster) : IClassFixture<ClusterNodes>
{
    private const string Password = "cluster-test-password-long-enough";
    private const string Secret = "cluster-client-secret-0123456789abcdef";
    private const string RedirectUri = "http://127.0.0.1:8123/cluster/callback";

    [Fact]
    public async Task A_token_from_node_A_refreshes_and_introspects_at_node_B_and_a_revocation_at_A_holds_at_B()
    {
        var (clientId, email) = await ClientAndUserAsync();
        var pkce = Pkce.Create();
        var redirect = await new BrowserFlow(cluster.A).SignInAsync(
            BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, RedirectUri, pkce)), email, Password);
        using var atA = ClusterNodes.Api(cluster.A);
        using var atB = ClusterNodes.Api(cluster.B);
        var tokens = await (await atA.PostAsync("/connect/token", Form(clientId,
            ("grant_type", "authorization_code"), ("code", BrowserFlow.Query(redirect.Headers.Location!)["code"]),
            ("redirect_uri", RedirectUri), ("code_verifier", pkce.Verifier)))).ShouldSucceedAsync();

        // Refreshes at B, and B's answer introspects as active at B.
        var refreshed = await (await atB.PostAsync("/connect/token", Form(clientId,
            ("grant_type", "refresh_token"), ("refresh_token", tokens.GetProperty("refresh_token").GetString()!)))).ShouldSucceedAsync();
        (await IntrospectAsync(atB, clientId, tokens.GetProperty("access_token").GetString()!)).Should().BeTrue("A's access token is valid at B");
        var refreshToken = refreshed.GetProperty("refresh_token").GetString()!;
        (await IntrospectAsync(atB, clientId, refreshToken)).Should().BeTrue();

        // Revoked at A: refused at B.
        (await atA.PostAsync("/connect/revoke", Form(clientId, ("token", refreshToken), ("token_type_hint", "refresh_token")))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await IntrospectAsync(atB, clientId, refreshToken)).Should().BeFalse("a revocation at A holds at B");
        await (await atB.PostAsync("/connect/token", Form(clientId, ("grant_type", "refresh_token"), ("refresh_token", refreshToken)))).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task The_admin_API_at_either_node_sees_the_same_state()
    {
        using var adminA = await AdminAsync(cluster.A);
        using var adminB = await AdminAsync(cluster.B);

        // A client registered at A is read, rotated and deleted at B, and its audit trail is the same at both.
        using var created = await adminA.PostAsJsonAsync("/admin/clients", new { type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "api" } });
        created.StatusCode.Should().Be(HttpStatusCode.Created);
        var clientId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("client_id").GetString()!;
        (await adminB.GetAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await adminB.PostAsync($"/admin/clients/{clientId}/secret", null)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await adminB.DeleteAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await adminA.GetAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.NotFound);

        var actionsAtA = await AuditActionsAsync(adminA, clientId);
        actionsAtA.Should().Equal("client.created", "client.secret_rotated", "client.deleted");
        (await AuditActionsAsync(adminB, clientId)).Should().Equal(actionsAtA);

        // A user disabled at B can't sign in at A.
        using var user = await adminA.PostAsJsonAsync("/admin/users", new { email = $"cluster-admin-{Guid.NewGuid():N}@example.com", password = Password });
        var userId = (await user.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        (await adminB.PostAsync($"/admin/users/{userId}/disable", null)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await adminA.GetFromJsonAsync<JsonElement>($"/admin/users/{userId}")).GetProperty("status").GetString().Should().Be("disabled");
    }

    private static async Task<HttpClient> AdminAsync(Uri node)
    {
        using var api = ClusterNodes.Api(node);
        var token = await api.ClientCredentialsTokenAsync("admin-cli", ClusterNodes.AdminSecret, "oauth.admin", waitForClient: true);
        var client = ClusterNodes.Api(node);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static async Task<List<string?>> AuditActionsAsync(HttpClient admin, string clientId) =>
        [.. (await admin.GetFromJsonAsync<JsonElement>("/admin/audit?limit=500")).GetProperty("items").EnumerateArray()
            .Where(row => row.GetProperty("target_id").GetString() == clientId).Select(row => row.GetProperty("action").GetString())];

    [Fact]
    public async Task A_lockout_at_node_A_holds_at_node_B()
    {
        var (_, email) = await ClientAndUserAsync();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            (await LoginAsync(cluster.A, email, "a-wrong-password-for-the-cluster")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        (await LoginAsync(cluster.B, email, Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the account locked at A is locked at B");
    }

    private async Task<(string ClientId, string Email)> ClientAndUserAsync()
    {
        var clientId = "cluster-" + Guid.NewGuid().ToString("N")[..8];
        var email = $"cluster-{Guid.NewGuid():N}@example.com";
        (await cluster.RunCliAsync(["clients", "add", "--client-id", clientId, "--type", "confidential", "--redirect-uri", RedirectUri,
            "--scope", "openid", "--scope", "offline_access", "--scope", "api", "--consent", "implicit", "--secret-stdin"], Secret)).Should().Be(0);
        (await cluster.RunCliAsync(["users", "add", "--email", email, "--password-stdin"], Password)).Should().Be(0);
        return (clientId, email);
    }

    private static async Task<HttpResponseMessage> LoginAsync(Uri node, string email, string password)
    {
        var flow = new BrowserFlow(node);
        return await flow.SubmitLoginAsync(await flow.FollowAsync("/account/login"), email, password);
    }

    private static async Task<bool> IntrospectAsync(HttpClient api, string clientId, string token)
    {
        var response = await api.PostAsync("/connect/introspect", Form(clientId, ("token", token)));
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        return (await BrowserFlow.JsonAsync(response)).GetProperty("active").GetBoolean();
    }

    private static FormUrlEncodedContent Form(string clientId, params (string Key, string Value)[] fields) =>
        new(fields.Select(field => new KeyValuePair<string, string>(field.Key, field.Value))
            .Append(new("client_id", clientId)).Append(new("client_secret", Secret)));
}
