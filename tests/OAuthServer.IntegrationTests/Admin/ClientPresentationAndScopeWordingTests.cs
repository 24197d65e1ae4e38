using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>
/// A client's logo_uri and client_uri (RFC 7591 §2) through the admin API and dynamic registration, and the words of
/// API scopes through the admin API: refused values get ProblemDetails (or RFC 7591 errors), accepted ones round-trip.
/// </summary>
public sealed class ClientPresentationAndScopeWordingTests(AdminServer server) : IClassFixture<AdminServer>
{
    private static readonly string[] Refused =
    [
        "javascript:alert(1)", "data:image/png;base64,AAAA", "/relative/logo.png", "https://user:pass@cdn.example/logo.png",
        "https://cdn.example/logo.png#frag", "ftp://cdn.example/logo.png", "https://cdn.example/" + new string('a', 600), "https://cdn.example/a b.png",
    ];

    [Fact]
    public async Task The_admin_API_keeps_logo_uri_and_client_uri_and_refuses_unsafe_ones_with_ProblemDetails()
    {
        using var admin = await server.AdminClientAsync();
        var created = await AdminServer.CreateClientAsync(admin, Client(logoUri: "https://cdn.example/logo.png", clientUri: "https://app.example/"));
        var clientId = created.GetProperty("client_id").GetString()!;

        var view = await admin.GetFromJsonAsync<JsonElement>($"/admin/clients/{clientId}");
        view.GetProperty("logo_uri").GetString().Should().Be("https://cdn.example/logo.png");
        view.GetProperty("client_uri").GetString().Should().Be("https://app.example/");
        var properties = await server.Node.WithScopeAsync(async services =>
        {
            var applications = services.GetRequiredService<OpenIddict.Abstractions.IOpenIddictApplicationManager>();
            return await applications.GetPropertiesAsync((await applications.FindByClientIdAsync(clientId))!);
        });
        properties["logo_uri"].GetString().Should().Be("https://cdn.example/logo.png", "the login page reads the property of that name");
        properties["client_uri"].GetString().Should().Be("https://app.example/");

        using var updated = await admin.PutAsJsonAsync($"/admin/clients/{clientId}", Client(logoUri: "http://127.0.0.1:5000/logo.png", clientUri: null));
        updated.StatusCode.Should().Be(HttpStatusCode.OK, "plain http is allowed in Development");
        var after = await updated.Content.ReadFromJsonAsync<JsonElement>();
        after.GetProperty("logo_uri").GetString().Should().Be("http://127.0.0.1:5000/logo.png");
        after.TryGetProperty("client_uri", out _).Should().BeFalse("a PUT replaces the settings");

        foreach (var value in Refused)
        {
            foreach (var field in new[] { "logo_uri", "client_uri" })
            {
                using var refused = await admin.PostAsJsonAsync("/admin/clients", field == "logo_uri" ? Client(logoUri: value) : Client(clientUri: value));
                refused.StatusCode.Should().Be(HttpStatusCode.BadRequest, $"{field} {value}");
                var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
                problem.GetProperty("errors").TryGetProperty(field, out _).Should().BeTrue(problem.GetRawText());
                refused.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
            }
        }
    }

    [Fact]
    public async Task Dynamic_registration_keeps_logo_uri_and_client_uri_and_refuses_unsafe_ones_as_invalid_client_metadata()
    {
        using var admin = await server.AdminClientAsync();
        var (registrar, secret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.register"]);
        using var registration = server.Bearer(await server.ClientCredentialsTokenAsync(registrar, secret, "oauth.register"));

        using var accepted = await registration.PostAsJsonAsync("/connect/register", new
        {
            redirect_uris = new[] { "https://rp.example.com/cb" }, client_name = "Third party", token_endpoint_auth_method = "none",
            logo_uri = "https://rp.example.com/logo.svg", client_uri = "https://rp.example.com/",
        });
        var body = await accepted.Content.ReadFromJsonAsync<JsonElement>();
        accepted.StatusCode.Should().Be(HttpStatusCode.Created, body.GetRawText());
        body.GetProperty("logo_uri").GetString().Should().Be("https://rp.example.com/logo.svg");
        body.GetProperty("client_uri").GetString().Should().Be("https://rp.example.com/");
        var view = await admin.GetFromJsonAsync<JsonElement>($"/admin/clients/{body.GetProperty("client_id").GetString()}");
        view.GetProperty("logo_uri").GetString().Should().Be("https://rp.example.com/logo.svg");

        foreach (var value in Refused)
        {
            using var refused = await registration.PostAsJsonAsync("/connect/register", new
            {
                redirect_uris = new[] { "https://rp.example.com/cb" }, token_endpoint_auth_method = "none", client_uri = value,
            });
            refused.StatusCode.Should().Be(HttpStatusCode.BadRequest, value);
            var error = await refused.Content.ReadFromJsonAsync<JsonElement>();
            error.GetProperty("error").GetString().Should().Be("invalid_client_metadata");
            error.GetProperty("error_description").GetString().Should().Contain("client_uri");
        }
    }

    [Fact]
    public async Task An_API_scope_gets_words_per_language_through_the_admin_API_audited()
    {
        using var admin = await server.AdminClientAsync();
        var scope = "ledger-" + Guid.NewGuid().ToString("N")[..8];
        await AdminServer.CreateMachineClientAsync(admin, [scope]);

        using var set = await admin.PutAsJsonAsync($"/admin/scopes/{scope}", new
        {
            display_name = "Read your ledger",
            description = "See the entries of your ledger.",
            display_names = new Dictionary<string, string> { ["de"] = "Ihr Kassenbuch lesen" },
            descriptions = new Dictionary<string, string> { ["de"] = "Die Einträge Ihres Kassenbuchs sehen." },
        });
        set.StatusCode.Should().Be(HttpStatusCode.OK, await set.Content.ReadAsStringAsync());

        var view = await admin.GetFromJsonAsync<JsonElement>($"/admin/scopes/{scope}");
        view.GetProperty("display_name").GetString().Should().Be("Read your ledger");
        view.GetProperty("description").GetString().Should().Be("See the entries of your ledger.");
        view.GetProperty("display_names").GetProperty("de").GetString().Should().Be("Ihr Kassenbuch lesen");
        view.GetProperty("descriptions").GetProperty("de").GetString().Should().Be("Die Einträge Ihres Kassenbuchs sehen.");
        var list = await admin.GetFromJsonAsync<JsonElement>("/admin/scopes");
        list.EnumerateArray().Should().Contain(item => item.GetProperty("name").GetString() == "offline_access" && item.GetProperty("standard").GetBoolean()
            && item.GetProperty("display_name").GetString() == "Stay signed in");
        list.EnumerateArray().Should().Contain(item => item.GetProperty("name").GetString() == scope && !item.GetProperty("standard").GetBoolean());

        var audit = await admin.GetFromJsonAsync<JsonElement>($"/admin/audit?since={Uri.EscapeDataString(DateTime.UtcNow.AddMinutes(-5).ToString("O"))}&limit=500");
        audit.GetProperty("items").EnumerateArray().Should().Contain(row => row.GetProperty("action").GetString() == "scope.updated"
            && row.GetProperty("target_type").GetString() == "scope" && row.GetProperty("target_id").GetString() == scope
            && row.GetProperty("actor").GetString() == "admin-cli");
    }

    [Fact]
    public async Task Scope_words_that_break_a_rule_get_ProblemDetails_and_standard_or_unknown_scopes_are_refused()
    {
        using var admin = await server.AdminClientAsync();
        var scope = "ledger-" + Guid.NewGuid().ToString("N")[..8];
        await AdminServer.CreateMachineClientAsync(admin, [scope]);

        foreach (var (body, field) in new (object, string)[]
        {
            (new { display_name = new string('x', 101) }, "display_name"),
            (new { display_name = "Two\nlines" }, "display_name"),
            (new { display_name = "Ok", description = new string('x', 501) }, "description"),
            (new { display_name = "Ok", display_names = new Dictionary<string, string> { ["not a language"] = "x" } }, "display_names.not a language"),
            (new { display_name = "Ok", display_names = new Dictionary<string, string?> { ["de"] = null } }, "display_names.de"),
            (new { description = "Words without a name" }, "display_name"),
        })
        {
            using var refused = await admin.PutAsJsonAsync($"/admin/scopes/{scope}", body);
            refused.StatusCode.Should().Be(HttpStatusCode.BadRequest, field);
            var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
            problem.GetProperty("errors").TryGetProperty(field, out _).Should().BeTrue(problem.GetRawText());
        }

        using var standard = await admin.PutAsJsonAsync("/admin/scopes/offline_access", new { display_name = "Harmless" });
        standard.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await standard.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString().Should().Be("standard_scope");
        using var unknown = await admin.PutAsJsonAsync("/admin/scopes/never-registered-scope", new { display_name = "Nothing" });
        unknown.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await admin.GetAsync("/admin/scopes/never-registered-scope")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        using var anonymous = server.Bearer(null);
        (await anonymous.PutAsJsonAsync($"/admin/scopes/{scope}", new { display_name = "Anyone" })).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    private static object Client(string? logoUri = null, string? clientUri = null) => new
    {
        type = "public",
        redirect_uris = new[] { "https://app.example/cb" },
        scopes = new[] { "openid" },
        logo_uri = logoUri,
        client_uri = clientUri,
    };
}
