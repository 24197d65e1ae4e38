using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Admin;

/// <summary>
/// JSON can put null into any list of a registration. The admin API and RFC 7591 registration answer with the
/// entry named, as for any other bad entry, never with a 500.
/// </summary>
public sealed class NullRegistrationEntryTests(AdminServer server) : IClassFixture<AdminServer>
{
    [Theory]
    [InlineData("""{"type":"public","redirect_uris":[null]}""", "redirect_uris[0]")]
    [InlineData("""{"type":"public","redirect_uris":["https://null.example.com/cb"],"post_logout_redirect_uris":["https://null.example.com/",null]}""", "post_logout_redirect_uris[1]")]
    [InlineData("""{"type":"public","redirect_uris":["https://null.example.com/cb"],"scopes":["openid",null]}""", "scopes[1]")]
    [InlineData("""{"type":"confidential","grant_types":[null]}""", "grant_types[0]")]
    public async Task The_admin_API_names_a_null_entry_as_a_field_error(string body, string field)
    {
        using var admin = await server.AdminClientAsync();
        using var response = await admin.PostAsync("/admin/clients", new StringContent(body, Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest, await response.Content.ReadAsStringAsync());
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").GetProperty(field).EnumerateArray().Single().GetString()
            .Should().Contain("must not contain null");
    }

    [Theory]
    [InlineData("""{"redirect_uris":[null],"token_endpoint_auth_method":"none"}""", "invalid_redirect_uri")]
    [InlineData("""{"redirect_uris":["https://null.example.com/cb"],"grant_types":["authorization_code",null],"token_endpoint_auth_method":"none"}""", "invalid_client_metadata")]
    public async Task Registration_names_a_null_entry_in_an_RFC_7591_error(string body, string error)
    {
        using var admin = await server.AdminClientAsync();
        var (registrar, secret) = await AdminServer.CreateMachineClientAsync(admin, ["oauth.register"]);
        using var registration = server.Bearer(await server.ClientCredentialsTokenAsync(registrar, secret, "oauth.register"));
        using var response = await registration.PostAsync("/connect/register", new StringContent(body, Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest, await response.Content.ReadAsStringAsync());
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        json.GetProperty("error").GetString().Should().Be(error);
        json.GetProperty("error_description").GetString().Should().Contain("must not contain null");
    }
}
