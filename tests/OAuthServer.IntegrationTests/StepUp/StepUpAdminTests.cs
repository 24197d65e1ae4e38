using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Accounts.Factors;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Admin;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.StepUp.StepUpFlow;

namespace OAuthServer.IntegrationTests.StepUp;

/// <summary>
/// Human administrators at the admin API (threat model 3.1): the scope only for a person the database names an
/// administrator, and a person's token only after a recent second factor (RFC 9470), checked on every request;
/// the admin-cli client-credentials path unchanged. And the operators' reset of a person's second factors.
/// </summary>
public sealed class StepUpAdminTests(AdminServer server) : IClassFixture<AdminServer>
{
    private const string ConsoleScope = "openid offline_access oauth.admin";

    [Fact]
    public async Task An_admin_endpoint_refuses_a_token_issued_after_a_password_alone_with_the_RFC_9470_challenge()
    {
        using var admin = await server.AdminClientAsync();
        var (console, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access", "oauth.admin"]);
        var email = await server.Node.CreateUserAsync();
        await GrantAdministratorAsync(admin, server.Node, email);

        var tokens = await (await SignedIn.ForAsync(server.Node, email, console, redirectUri, ConsoleScope)).RedeemAsync(server.Node.CreateApiClient());
        var accessToken = tokens.GetProperty("access_token").GetString()!;
        var claims = Payload(accessToken);
        claims.GetProperty("acr").GetString().Should().Be(Sfa, "a token for the admin API says how its user signed in");
        claims.GetProperty("amr").EnumerateArray().Select(item => item.GetString()).Should().Equal("pwd");
        claims.TryGetProperty("auth_time", out _).Should().BeTrue();

        using var person = server.Bearer(accessToken);
        foreach (var request in new Func<Task<HttpResponseMessage>>[]
        {
            () => person.GetAsync("/admin/clients"),
            () => person.PostAsJsonAsync("/admin/users", new { email = TestData.NewEmail(), password = TestData.Password }),
            () => person.GetAsync("/admin/openapi.json"),
        })
        {
            using var response = await request();
            response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
            var challenge = response.Headers.WwwAuthenticate.Should().ContainSingle().Subject;
            challenge.Scheme.Should().Be("Bearer");
            challenge.Parameter.Should().Contain("error=\"insufficient_user_authentication\"")
                .And.Contain($"acr_values=\"{Mfa}\"").And.Contain("max_age=900").And.Contain("error_description=\"");
            response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
            (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetInt32().Should().Be(401);
        }

        (await admin.GetAsync("/admin/clients")).StatusCode.Should().Be(HttpStatusCode.OK, "the admin-cli client-credentials token still works");
    }

    [Fact]
    public async Task A_person_who_is_not_an_administrator_can_not_get_the_admin_scope_at_all()
    {
        using var admin = await server.AdminClientAsync();
        var (console, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access", "oauth.admin"]);
        var email = await server.Node.CreateUserAsync();

        var answer = (await AuthorizeAsync(new BrowserFlow(server.Node), Url(console, redirectUri, Pkce.Create(), ConsoleScope), email))
            .ShouldGoBackToTheClient("the client may ask, but the user is no administrator");

        answer["error"].Should().Be("access_denied");
        answer.Should().NotContainKey("code");
    }

    [Fact]
    public async Task An_administrator_revoked_since_the_token_was_issued_is_refused_with_the_old_token_and_its_refresh()
    {
        using var admin = await server.AdminClientAsync();
        var (console, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access", "oauth.admin"]);
        var email = await server.Node.CreateUserAsync();
        var id = await GrantAdministratorAsync(admin, server.Node, email);
        var tokens = await (await SignedIn.ForAsync(server.Node, email, console, redirectUri, ConsoleScope)).RedeemAsync(server.Node.CreateApiClient());
        using var person = server.Bearer(tokens.GetProperty("access_token").GetString()!);
        (await person.GetAsync("/admin/clients")).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "an administrator: a step-up would let it through");

        using var revoked = await admin.DeleteAsync($"/admin/users/{id}/administrator");
        revoked.StatusCode.Should().Be(HttpStatusCode.NoContent);

        using var after = await person.GetAsync("/admin/clients");
        after.StatusCode.Should().Be(HttpStatusCode.Forbidden, "the row says no administrator now, whatever the token says");
        after.Headers.WwwAuthenticate.Should().BeEmpty("no step-up can help");
        (await after.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetInt32().Should().Be(403);
        using var api = server.Node.CreateApiClient();
        await (await api.RefreshAsync(console, tokens.GetProperty("refresh_token").GetString()!)).ShouldFailWithAsync("invalid_grant");

        var events = await server.Node.EventsForAsync(id);
        events.Select(item => item.Type).Should().ContainInOrder("administrator.granted", "administrator.revoked");
        var audit = await ReadAuditAsync(id.ToString());
        audit.Should().Contain(row => row.Action == "administrator.granted" && row.Actor == "admin-cli" && row.Changes.Contains("IsAdministrator"))
            .And.Contain(row => row.Action == "administrator.revoked");
    }

    [Theory]
    [InlineData("/ADMIN/clients")]
    [InlineData("/admin/clients/")]
    [InlineData("/Admin/Clients")]
    [InlineData("//admin//clients")]
    [InlineData("/admin/./clients")]
    [InlineData("/admin%2Fclients")]
    public async Task Every_spelling_of_an_admin_path_refuses_the_password_only_token(string path)
    {
        using var admin = await server.AdminClientAsync();
        var (console, redirectUri) = await CreateClientAsync(admin, ["openid", "oauth.admin"]);
        var email = await server.Node.CreateUserAsync();
        await GrantAdministratorAsync(admin, server.Node, email);
        var tokens = await (await SignedIn.ForAsync(server.Node, email, console, redirectUri, "openid oauth.admin")).RedeemAsync(server.Node.CreateApiClient());

        // Note: raw bytes, so the path reaches the server exactly as spelled (HttpClient would normalise it).
        var response = await RawHttp.SendAsync(server.Node.Port, RawHttp.Request(
            "GET", path, server.Node.Port, ["Authorization: Bearer " + tokens.GetProperty("access_token").GetString()], null), TimeSpan.FromSeconds(30));

        response.Status.Should().BeOneOf([401, 404], "no spelling reaches an admin endpoint with a password-only token");
        response.Body.Should().NotContain("redirect_uris", "no client list leaks");
        if (response.Status == 401)
        {
            response.Header("WWW-Authenticate").Should().Contain("insufficient_user_authentication");
        }
    }

    [Fact]
    public async Task An_operator_resets_a_persons_second_factors_through_the_API_which_ends_their_sessions_and_is_audited()
    {
        using var admin = await server.AdminClientAsync();
        var (clientId, redirectUri) = await CreateClientAsync(admin, ["openid"]);
        var email = await server.Node.CreateUserAsync();
        var signedIn = await SignedIn.ForAsync(server.Node, email, clientId, redirectUri, "openid");
        var id = (await server.Node.ReadUserAsync(email)).Id;
        await AddRecoveryCodesAsync(id, 3);

        using var reset = await admin.PostAsync($"/admin/users/{id}/factors/reset", null);

        reset.StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await CountRecoveryCodesAsync(id)).Should().Be(0);
        var removed = (await server.Node.EventsForAsync(id)).Should().ContainSingle(item => item.Type == "factor.removed").Subject;
        var data = JsonDocument.Parse(removed.Data!).RootElement;
        data.GetProperty("method").GetString().Should().Be("all");
        data.GetProperty("by").GetString().Should().Be("operator");
        (await ReadAuditAsync(id.ToString())).Should().Contain(row => row.Action == "factor.removed" && row.Actor == "admin-cli");
        var again = await signedIn.Flow!.Browser.GetAsync(Url(clientId, redirectUri, Pkce.Create(), "openid"));
        again.Headers.Location!.AbsolutePath.Should().Be("/account/login", "the reset ended the browser session");
        (await admin.PostAsync($"/admin/users/{Guid.NewGuid()}/factors/reset", null)).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_CLI_grants_and_revokes_admin_access_and_resets_second_factors_audited_under_cli()
    {
        var email = await server.Node.CreateUserAsync();
        var id = (await server.Node.ReadUserAsync(email)).Id;
        await AddRecoveryCodesAsync(id, 2);
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__OAuthServer"] = server.Node.ConnectionString,
            ["Logging__LogLevel__Default"] = "Warning",
        };

        var both = await ServerBinary.RunAsync(["users", "admin", "--email", email, "--grant", "--revoke"], environment);
        both.ExitCode.Should().NotBe(0, "one of --grant and --revoke");
        var granted = await ServerBinary.RunAsync(["users", "admin", "--email", email, "--grant"], environment);
        granted.ExitCode.Should().Be(0, granted.Error);
        (await server.Node.ReadUserAsync(email)).IsAdministrator.Should().BeTrue();
        var revoked = await ServerBinary.RunAsync(["users", "admin", "--email", email, "--revoke"], environment);
        revoked.ExitCode.Should().Be(0, revoked.Error);
        (await server.Node.ReadUserAsync(email)).IsAdministrator.Should().BeFalse();
        var reset = await ServerBinary.RunAsync(["users", "reset-factors", "--email", email], environment);
        reset.ExitCode.Should().Be(0, reset.Error);

        (await CountRecoveryCodesAsync(id)).Should().Be(0);
        var audit = await ReadAuditAsync(id.ToString());
        audit.Where(row => row.Actor == "cli").Select(row => row.Action).Should().ContainInOrder("administrator.granted", "administrator.revoked", "factor.removed");
    }

    private Task<int> AddRecoveryCodesAsync(Guid userId, int count) => server.Node.WithScopeAsync(async services =>
    {
        var db = services.GetRequiredService<OAuthDbContext>();
        for (var index = 0; index < count; index++)
        {
            db.Set<RecoveryCode>().Add(new RecoveryCode { UserId = userId, CodeHash = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), CreatedAt = DateTime.UtcNow });
        }

        return await db.SaveChangesAsync();
    });

    private Task<int> CountRecoveryCodesAsync(Guid userId) =>
        server.Node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<RecoveryCode>().CountAsync(row => row.UserId == userId));

    private Task<List<OAuthServer.Admin.AuditEntry>> ReadAuditAsync(string targetId) =>
        server.Node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<OAuthServer.Admin.AuditEntry>().AsNoTracking()
            .Where(row => row.TargetId == targetId).OrderBy(row => row.Id).ToListAsync());
}
