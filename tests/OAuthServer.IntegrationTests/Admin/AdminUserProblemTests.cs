using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>
/// Every refusal of the admin user API is a ProblemDetails (RFC 9457) of the one mapping: 400 names the failed rule in
/// its title and the field in its errors, 404 and 409 carry the reason as the detail.
/// </summary>
public sealed class AdminUserProblemTests(AdminServer server) : IClassFixture<AdminServer>
{
    [Fact]
    public async Task Missing_fields_and_a_bad_email_name_the_field_and_the_rule()
    {
        using var admin = await server.AdminClientAsync();

        var missing = await ProblemAsync(await admin.PostAsJsonAsync("/admin/users", new { email = TestData.NewEmail() }), HttpStatusCode.BadRequest);
        missing.GetProperty("title").GetString().Should().Be("required");
        missing.GetProperty("errors").GetProperty("password").EnumerateArray().Single().GetString().Should().Contain("password");

        var badEmail = await ProblemAsync(await admin.PostAsJsonAsync("/admin/users", new { email = "not-an-email", password = TestData.Password }), HttpStatusCode.BadRequest);
        badEmail.GetProperty("title").GetString().Should().Be("invalid_email");
        badEmail.GetProperty("errors").TryGetProperty("email", out _).Should().BeTrue();
    }

    [Fact]
    public async Task A_taken_email_is_409_and_an_unknown_user_is_404_for_every_change()
    {
        using var admin = await server.AdminClientAsync();
        var email = TestData.NewEmail();
        (await admin.PostAsJsonAsync("/admin/users", new { email, password = TestData.Password })).StatusCode.Should().Be(HttpStatusCode.Created);

        var taken = await ProblemAsync(await admin.PostAsJsonAsync("/admin/users", new { email = email.ToUpperInvariant(), password = TestData.Password }), HttpStatusCode.Conflict);
        taken.GetProperty("detail").GetString().Should().Contain("already exists");

        var nobody = Guid.NewGuid();
        foreach (var action in new[] { "disable", "enable", "lock", "unlock" })
        {
            (await ProblemAsync(await admin.PostAsync($"/admin/users/{nobody}/{action}", null), HttpStatusCode.NotFound))
                .GetProperty("detail").GetString().Should().NotBeNullOrEmpty(action);
        }

        await ProblemAsync(await admin.PostAsJsonAsync($"/admin/users/{nobody}/password", new { password = TestData.Password }), HttpStatusCode.NotFound);
        await ProblemAsync(await admin.DeleteAsync($"/admin/users/{nobody}"), HttpStatusCode.NotFound);
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.Should().Be(status, body);
            response.Content.Headers.ContentType!.MediaType.Should().Be("application/problem+json");
            return JsonDocument.Parse(body).RootElement.Clone();
        }
    }
}
