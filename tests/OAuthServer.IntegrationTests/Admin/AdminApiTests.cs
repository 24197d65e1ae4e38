using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>
/// Threat model 3.1 to 3.3 over HTTP: deny by default, privileges never taken from client input, server-made
/// secrets shown once, and an append-only audit trail of every change.
/// </summary>
public sealed class AdminApiTests(AdminServer server) : IClassFixture<AdminServer>
{
    private static readonly string[] CodeFlow = ["authorization_code", "refresh_token"];

    [Fact]
    public async Task Tokens_are_sorted_into_401_403_and_200()
    {
        using var admin = await server.AdminClientAsync();
        var (registerOnly, registerSecret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.register"]);
        var (shortLived, shortSecret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.admin"], accessTokenLifetime: 1);
        var (apiClient, apiSecret) = await AdminServer.CreateMachineClientAsync(admin, ["api"]);

        var expired = await server.ClientCredentialsTokenAsync(shortLived, shortSecret, "oauth.admin");
        var wrongAudience = await server.ClientCredentialsTokenAsync(apiClient, apiSecret, "api");
        var withoutAdminScope = await server.ClientCredentialsTokenAsync(registerOnly, registerSecret, "oauth.register");
        var userToken = await UserTokenForOurAudienceAsync(admin);
        await Task.Delay(TimeSpan.FromSeconds(2.5)); // the 1-second token is now expired

        foreach (var (token, expected, what) in new (string?, HttpStatusCode, string)[]
        {
            (null, HttpStatusCode.Unauthorized, "no token"),
            ("not-a-jwt", HttpStatusCode.Unauthorized, "garbage"),
            (expired, HttpStatusCode.Unauthorized, "an expired admin token"),
            (wrongAudience, HttpStatusCode.Unauthorized, "a token for another audience"),
            (withoutAdminScope, HttpStatusCode.Forbidden, "a machine token without oauth.admin"),
            (userToken, HttpStatusCode.Forbidden, "a user's token without oauth.admin"),
        })
        {
            using var client = server.Bearer(token);
            (await client.GetAsync("/admin/clients")).StatusCode.Should().Be(expected, what);
            (await client.PostAsJsonAsync("/admin/users", new { email = TestData.NewEmail(), password = TestData.Password })).StatusCode.Should().Be(expected, what);
        }

        (await admin.GetAsync("/admin/clients")).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_revoked_admin_token_is_refused_at_once()
    {
        var token = await server.ClientCredentialsTokenAsync("admin-cli", AdminServer.BootstrapSecret, "oauth.admin", waitForClient: true);
        using var admin = server.Bearer(token);
        (await admin.GetAsync("/admin/clients")).StatusCode.Should().Be(HttpStatusCode.OK);

        using var api = server.Node.CreateApiClient();
        (await api.PostAsync("/connect/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = "admin-cli", ["client_secret"] = AdminServer.BootstrapSecret, ["token"] = token,
        }))).StatusCode.Should().Be(HttpStatusCode.OK);

        (await admin.GetAsync("/admin/clients")).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the token entry is checked on every call");
    }

    [Theory]
    [InlineData("http://app.example.com/cb", "web", "https")]
    [InlineData("https://app.example.com/cb#fragment", "web", "fragment")]
    [InlineData("https://*.example.com/cb", "web", "wildcard")]
    [InlineData("/relative/cb", "web", "absolute")]
    [InlineData("javascript:alert(1)", "native", "private-use")]
    [InlineData("com.example.app:/cb", "web", "only native clients")]
    public async Task Every_class_of_bad_redirect_uri_is_refused_with_a_field_error(string uri, string applicationType, string reason)
    {
        using var admin = await server.AdminClientAsync();
        using var response = await admin.PostAsJsonAsync("/admin/clients", new
        {
            type = "public", application_type = applicationType, redirect_uris = new[] { "https://ok.example.com/cb", uri }, grant_types = CodeFlow,
        });

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
        var errors = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        errors.GetProperty("redirect_uris[1]")[0].GetString().Should().Contain(reason);
        errors.TryGetProperty("redirect_uris[0]", out _).Should().BeFalse("the good URI is not blamed");
    }

    [Fact]
    public async Task A_native_client_may_use_a_private_use_scheme_and_loopback_http()
    {
        using var admin = await server.AdminClientAsync();
        await AdminServer.CreateClientAsync(admin, new
        {
            type = "public", application_type = "native", redirect_uris = new[] { "com.example.app:/oauth2redirect", "http://127.0.0.1/callback" }, grant_types = CodeFlow,
        });
    }

    [Fact]
    public async Task A_public_client_can_never_get_client_credentials()
    {
        using var admin = await server.AdminClientAsync();
        using var response = await admin.PostAsJsonAsync("/admin/clients", new { type = "public", grant_types = new[] { "client_credentials" } });

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").GetProperty("grant_types")[0].GetString()
            .Should().Contain("confidential clients only");
    }

    [Fact]
    public async Task Removed_grants_and_privileged_scopes_for_user_clients_are_refused()
    {
        using var admin = await server.AdminClientAsync();
        using var password = await admin.PostAsJsonAsync("/admin/clients", new { type = "confidential", grant_types = new[] { "password" } });
        password.StatusCode.Should().Be(HttpStatusCode.BadRequest);

        using var escalation = await admin.PostAsJsonAsync("/admin/clients", new
        {
            type = "confidential", redirect_uris = new[] { "https://console.example.com/cb" }, grant_types = new[] { "authorization_code", "client_credentials" }, scopes = new[] { "openid", "oauth.admin" },
        });
        escalation.StatusCode.Should().Be(HttpStatusCode.BadRequest, "a client that signs users in must never carry oauth.admin");
    }

    [Fact]
    public async Task The_secret_is_generated_by_the_server_shown_once_and_never_again()
    {
        using var admin = await server.AdminClientAsync();
        var created = await AdminServer.CreateClientAsync(admin, new { client_id = "svc-" + Guid.NewGuid().ToString("N")[..8], type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "api" } });
        var clientId = created.GetProperty("client_id").GetString()!;
        var secret = created.GetProperty("client_secret").GetString()!;

        Convert.FromBase64String(secret.Replace('-', '+').Replace('_', '/') + "=").Should().HaveCount(32, "a server-generated secret has 256 bits");
        var one = await admin.GetStringAsync($"/admin/clients/{clientId}");
        var all = await admin.GetStringAsync("/admin/clients?limit=500");
        foreach (var body in new[] { one, all })
        {
            body.Should().NotContain(secret).And.NotContain("client_secret");
        }

        JsonDocument.Parse(one).RootElement.GetProperty("grant_types").EnumerateArray().Select(item => item.GetString()).Should().Equal("client_credentials");
        (await server.ClientCredentialsTokenAsync(clientId, secret, "api")).Should().NotBeNullOrEmpty();
    }

    [Fact]
    public async Task Rotation_gives_a_new_secret_and_the_old_one_stops_working()
    {
        using var admin = await server.AdminClientAsync();
        var (clientId, oldSecret) = await AdminServer.CreateMachineClientAsync(admin, ["api"]);

        using var rotated = await admin.PostAsync($"/admin/clients/{clientId}/secret", null);
        rotated.StatusCode.Should().Be(HttpStatusCode.OK);
        var newSecret = (await rotated.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("client_secret").GetString()!;

        newSecret.Should().NotBe(oldSecret);
        (await server.ClientCredentialsTokenAsync(clientId, newSecret, "api")).Should().NotBeNullOrEmpty();
        var refused = async () => await server.ClientCredentialsTokenAsync(clientId, oldSecret, "api");
        (await refused.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Contain("invalid_client");
    }

    [Fact]
    public async Task A_duplicate_client_id_gets_409_and_an_unknown_one_404()
    {
        using var admin = await server.AdminClientAsync();
        var clientId = "dup-" + Guid.NewGuid().ToString("N")[..8];
        var request = new { client_id = clientId, type = "public", redirect_uris = new[] { "https://dup.example.com/cb" }, grant_types = CodeFlow };
        await AdminServer.CreateClientAsync(admin, request);

        (await admin.PostAsJsonAsync("/admin/clients", request)).StatusCode.Should().Be(HttpStatusCode.Conflict);
        (await admin.GetAsync("/admin/clients/no-such-client")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await admin.DeleteAsync("/admin/clients/no-such-client")).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Update_replaces_the_settings_but_never_the_type()
    {
        using var admin = await server.AdminClientAsync();
        var clientId = "upd-" + Guid.NewGuid().ToString("N")[..8];
        await AdminServer.CreateClientAsync(admin, new { client_id = clientId, type = "public", redirect_uris = new[] { "https://a.example.com/cb" }, grant_types = CodeFlow });

        using var updated = await admin.PutAsJsonAsync($"/admin/clients/{clientId}", new
        {
            type = "public", display_name = "Renamed", redirect_uris = new[] { "https://b.example.com/cb" }, grant_types = CodeFlow, consent = "implicit",
        });
        updated.StatusCode.Should().Be(HttpStatusCode.OK);
        var view = await updated.Content.ReadFromJsonAsync<JsonElement>();
        view.GetProperty("display_name").GetString().Should().Be("Renamed");
        view.GetProperty("redirect_uris").EnumerateArray().Select(item => item.GetString()).Should().Equal("https://b.example.com/cb");
        view.GetProperty("consent").GetString().Should().Be("implicit");

        (await admin.PutAsJsonAsync($"/admin/clients/{clientId}", new { type = "confidential", grant_types = new[] { "client_credentials" } }))
            .StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Deleting_a_client_revokes_its_tokens()
    {
        using var admin = await server.AdminClientAsync();
        var clientId = "del-" + Guid.NewGuid().ToString("N")[..8];
        var redirectUri = $"http://127.0.0.1:8123/{clientId}/cb";
        await AdminServer.CreateClientAsync(admin, new { client_id = clientId, type = "public", redirect_uris = new[] { redirectUri }, grant_types = CodeFlow, scopes = new[] { "openid", "offline_access", "api" }, consent = "implicit" });
        var email = await server.Node.CreateUserAsync();
        var signedIn = await SignedIn.ForAsync(server.Node, email, clientId, redirectUri);
        using var api = server.Node.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(api);

        (await admin.DeleteAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.NoContent);

        using var refresh = await api.RefreshAsync(clientId, tokens.GetProperty("refresh_token").GetString()!);
        refresh.StatusCode.Should().NotBe(HttpStatusCode.OK);
        var remaining = await server.Node.WithScopeAsync(async services =>
            await services.GetRequiredService<OpenIddict.Abstractions.IOpenIddictTokenManager>().FindBySubjectAsync(
                (await server.Node.ReadUserAsync(email)).Id.ToString()).CountAsync());
        remaining.Should().Be(0, "the client's tokens are gone with it");
        using var userInfo = server.Bearer(tokens.GetProperty("access_token").GetString());
        (await userInfo.GetAsync("/connect/userinfo")).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the access token's entry died with its client");
    }

    [Fact]
    public async Task Users_are_managed_without_ever_showing_a_hash_and_the_policy_applies()
    {
        using var admin = await server.AdminClientAsync();
        using var weak = await admin.PostAsJsonAsync("/admin/users", new { email = TestData.NewEmail(), password = "password1234" });
        weak.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await weak.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("password", out _).Should().BeTrue();

        var email = TestData.NewEmail();
        using var created = await admin.PostAsJsonAsync("/admin/users", new { email, password = TestData.Password });
        created.StatusCode.Should().Be(HttpStatusCode.Created);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        (await admin.PostAsJsonAsync("/admin/users", new { email, password = TestData.Password })).StatusCode.Should().Be(HttpStatusCode.Conflict);

        (await admin.PostAsync($"/admin/users/{id}/disable", null)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await ReadUserAsync(admin, id)).GetProperty("status").GetString().Should().Be("disabled");
        (await server.Node.LoginAsync(email, TestData.Password)).StatusCode.Should().NotBe(HttpStatusCode.Redirect, "a disabled user can't sign in");
        (await admin.PostAsync($"/admin/users/{id}/enable", null)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await admin.PostAsync($"/admin/users/{id}/unlock", null)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await admin.PostAsJsonAsync($"/admin/users/{id}/password", new { password = "another-long-enough-password" })).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await server.Node.LoginAsync(email, "another-long-enough-password")).StatusCode.Should().Be(HttpStatusCode.Redirect);

        var found = await admin.GetStringAsync($"/admin/users?email={Uri.EscapeDataString(email)}");
        found.Should().Contain(id.ToString()).And.NotContain("$argon2").And.NotContainEquivalentOf("hash").And.NotContainEquivalentOf("stamp");

        (await admin.DeleteAsync($"/admin/users/{id}")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await admin.GetAsync($"/admin/users/{id}")).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("too short", "password_too_short")]
    [InlineData("too long", "password_too_long")]
    [InlineData("common", "password_common")]
    [InlineData("contains the email's name", "password_contains_email")]
    public async Task Password_policy_rejections_name_the_rule_that_failed_on_create_and_on_reset(string rule, string code)
    {
        using var admin = await server.AdminClientAsync();
        var name = "policy" + Guid.NewGuid().ToString("N")[..12];
        var email = $"{name}@example.com";
        var password = rule switch
        {
            // Note: 11 code points but 22 UTF-16 units: the policy counts what a user typed, not how .NET stores it.
            "too short" => "🦊🐙🦉🐝🦋🐢🦀🐬🦜🐞🦔",
            "too long" => string.Concat(Enumerable.Range(0, 5).Select(_ => Guid.NewGuid().ToString("N")))[..129],
            "common" => "1qaz2wsx3edc", // a line of the shipped list, 12 characters long
            _ => $"my-{name}-passphrase",
        };

        using var create = await admin.PostAsJsonAsync("/admin/users", new { email, password });
        await ShouldNameTheRuleAsync(create, code);

        using var created = await admin.PostAsJsonAsync("/admin/users", new { email, password = TestData.Password });
        created.StatusCode.Should().Be(HttpStatusCode.Created, "the refused attempt created nothing");
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        using var reset = await admin.PostAsJsonAsync($"/admin/users/{id}/password", new { password });
        await ShouldNameTheRuleAsync(reset, code);
        (await server.Node.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "the old password still holds");

        static async Task ShouldNameTheRuleAsync(HttpResponseMessage response, string code)
        {
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest, body);
            response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
            var problem = JsonDocument.Parse(body).RootElement;
            problem.GetProperty("title").GetString().Should().Be(code, "the ProblemDetails names the rule that failed");
            problem.GetProperty("errors").GetProperty("password").EnumerateArray().Single().GetString().Should().NotBeNullOrEmpty();
        }
    }

    [Fact]
    public async Task Every_change_leaves_an_audit_row_with_actor_target_and_diff_and_no_secret()
    {
        using var admin = await server.AdminClientAsync();
        var since = DateTime.UtcNow.AddSeconds(-1);
        var (clientId, secret) = await AdminServer.CreateMachineClientAsync(admin, ["api"]);
        using var rotated = await admin.PostAsync($"/admin/clients/{clientId}/secret", null);
        var rotatedSecret = (await rotated.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("client_secret").GetString()!;
        (await admin.PutAsJsonAsync($"/admin/clients/{clientId}", new { type = "confidential", display_name = "Audited", grant_types = new[] { "client_credentials" }, scopes = new[] { "api" } }))
            .StatusCode.Should().Be(HttpStatusCode.OK);
        (await admin.DeleteAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        const string newPassword = "audited-new-password-value";
        using var created = await admin.PostAsJsonAsync("/admin/users", new { email = TestData.NewEmail(), password = TestData.Password });
        var userId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        foreach (var action in new[] { "disable", "enable", "unlock" })
        {
            (await admin.PostAsync($"/admin/users/{userId}/{action}", null)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        }

        (await admin.PostAsJsonAsync($"/admin/users/{userId}/password", new { password = newPassword })).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await admin.DeleteAsync($"/admin/users/{userId}")).StatusCode.Should().Be(HttpStatusCode.NoContent);

        var rows = new List<JsonElement>();
        var next = $"/admin/audit?since={Uri.EscapeDataString(since.ToString("O"))}&limit=3";
        while (next is not null)
        {
            var page = await admin.GetFromJsonAsync<JsonElement>(next);
            rows.AddRange(page.GetProperty("items").EnumerateArray().Select(item => item.Clone()));
            next = page.GetProperty("next").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next").GetString();
        }

        var mine = rows.Where(row => row.GetProperty("target_id").GetString() is var target && (target == clientId || target == userId)).ToList();
        mine.Select(row => row.GetProperty("action").GetString()).Should().Equal(
            "client.created", "client.secret_rotated", "client.updated", "client.deleted",
            "user.created", "account.disabled", "account.enabled", "account.unlocked", "password.changed", "user.deleted");
        mine.Should().OnlyContain(row => row.GetProperty("actor").GetString() == "admin-cli" && row.GetProperty("ip").GetString() == "127.0.0.1");
        mine.Single(row => row.GetProperty("action").GetString() == "client.updated").GetProperty("changes").GetProperty("after").GetProperty("DisplayName").GetString().Should().Be("Audited");
        mine.Single(row => row.GetProperty("action").GetString() == "client.secret_rotated").GetProperty("changes").GetProperty("secrets_changed")[0].GetString().Should().Be("ClientSecret");
        mine.Single(row => row.GetProperty("action").GetString() == "account.disabled").GetProperty("changes").GetProperty("after").GetProperty("Status").GetInt32().Should().Be(1);

        var everything = string.Join('\n', rows.Select(row => row.GetRawText()));
        everything.Should().NotContain(secret).And.NotContain(rotatedSecret).And.NotContain(newPassword).And.NotContain(TestData.Password).And.NotContain("$argon2");
    }

    [Fact]
    public async Task The_audit_table_refuses_updates_even_from_a_database_connection()
    {
        using var admin = await server.AdminClientAsync();
        await AdminServer.CreateMachineClientAsync(admin, ["api"]);

        await using var connection = new NpgsqlConnection(server.Node.ConnectionString);
        await connection.OpenAsync();
        await using var update = new NpgsqlCommand("UPDATE audit_log SET \"Actor\" = 'someone-else'", connection);
        var tamper = async () => await update.ExecuteNonQueryAsync();
        (await tamper.Should().ThrowAsync<PostgresException>()).Which.MessageText.Should().Contain("append-only");
    }

    [Fact]
    public async Task The_application_can_append_audit_rows_but_never_change_or_remove_one()
    {
        using var admin = await server.AdminClientAsync();
        await AdminServer.CreateMachineClientAsync(admin, ["api"]);

        var change = () => server.Node.WithScopeAsync(async services =>
        {
            var db = services.GetRequiredService<OAuthServer.Data.OAuthDbContext>();
            var row = await db.AuditLog.OrderBy(entry => entry.Id).FirstAsync();
            row.Actor = "someone-else";
            return await db.SaveChangesAsync();
        });
        await change.Should().ThrowAsync<InvalidOperationException>();

        var remove = () => server.Node.WithScopeAsync(async services =>
        {
            var db = services.GetRequiredService<OAuthServer.Data.OAuthDbContext>();
            db.AuditLog.Remove(await db.AuditLog.OrderBy(entry => entry.Id).FirstAsync());
            return await db.SaveChangesAsync();
        });
        (await remove.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Contain("append-only");
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_admin_API_behind_the_admin_policy()
    {
        using var anonymous = server.Bearer(null);
        (await anonymous.GetAsync("/admin/openapi.json")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);

        using var admin = await server.AdminClientAsync();
        var document = await admin.GetFromJsonAsync<JsonElement>("/admin/openapi.json");
        document.GetProperty("openapi").GetString().Should().StartWith("3.");
        var paths = document.GetProperty("paths").EnumerateObject().Select(path => path.Name).ToList();
        paths.Should().Contain(["/admin/clients", "/admin/clients/{clientId}", "/admin/clients/{clientId}/secret", "/admin/users", "/admin/audit"]);
        paths.Should().OnlyContain(path => path.StartsWith("/admin/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_registered_through_the_API_completes_the_code_flow_with_PKCE()
    {
        using var admin = await server.AdminClientAsync();
        var redirectUri = "http://127.0.0.1:8123/api-registered/cb";
        var created = await AdminServer.CreateClientAsync(admin, new
        {
            type = "public", redirect_uris = new[] { redirectUri }, grant_types = CodeFlow, scopes = new[] { "openid", "offline_access", "api" }, consent = "implicit",
        });
        var email = TestData.NewEmail();
        (await admin.PostAsJsonAsync("/admin/users", new { email, password = TestData.Password })).StatusCode.Should().Be(HttpStatusCode.Created);

        var signedIn = await SignedIn.ForAsync(server.Node, email, created.GetProperty("client_id").GetString()!, redirectUri);
        using var api = server.Node.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(api);

        tokens.GetProperty("access_token").GetString().Should().NotBeNullOrEmpty();
        tokens.GetProperty("refresh_token").GetString().Should().NotBeNullOrEmpty();
    }

    private static async Task<JsonElement> ReadUserAsync(HttpClient admin, Guid id) => await admin.GetFromJsonAsync<JsonElement>($"/admin/users/{id}");

    // A user's token whose audience is this server's own (through a scope named after it), but without oauth.admin.
    private async Task<string> UserTokenForOurAudienceAsync(HttpClient admin)
    {
        var redirectUri = "http://127.0.0.1:8123/user-token/cb";
        var created = await AdminServer.CreateClientAsync(admin, new
        {
            type = "public", redirect_uris = new[] { redirectUri }, grant_types = CodeFlow, scopes = new[] { "openid", "oauthserver" }, consent = "implicit",
        });
        var email = await server.Node.CreateUserAsync();
        var signedIn = await SignedIn.ForAsync(server.Node, email, created.GetProperty("client_id").GetString()!, redirectUri, scope: "openid oauthserver");
        using var api = server.Node.CreateApiClient();
        return (await signedIn.RedeemAsync(api)).GetProperty("access_token").GetString()!;
    }
}
