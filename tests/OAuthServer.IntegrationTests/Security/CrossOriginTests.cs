using System.Net;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// CORS: a registered SPA's origin may call token, revocation and userinfo from script; nobody else may, and no
/// other endpoint answers cross-origin reads, except the public discovery document and JWKS.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class CrossOriginTests(OAuthServerFactory server)
{
    [Theory]
    [InlineData("/connect/token")]
    [InlineData("/connect/revoke")]
    [InlineData("/connect/userinfo")]
    public async Task Registered_spa_origin_passes_the_preflight_without_credentials(string path)
    {
        var origin = await RegisterAsync(ClientKind.Public, native: false);

        var response = await EventuallyAllowedAsync(path, origin);

        response.StatusCode.Should().Be(HttpStatusCode.NoContent);
        response.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal(origin);
        response.Headers.Contains("Access-Control-Allow-Credentials").Should().BeFalse();
        response.Headers.GetValues("Access-Control-Allow-Methods").Single().Should().Contain("POST");
    }

    [Fact]
    public async Task Registered_spa_origin_can_read_the_token_endpoint_answer()
    {
        var origin = await RegisterAsync(ClientKind.Public, native: false);
        await EventuallyAllowedAsync("/connect/token", origin);
        using var api = server.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "refresh_token", ["client_id"] = "x", ["refresh_token"] = "y" }),
        };
        request.Headers.Add("Origin", origin);

        var response = await api.SendAsync(request);

        response.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal(origin);
        response.Headers.Vary.Should().Contain("Origin");
    }

    [Theory]
    [InlineData("https://unregistered.example")]
    [InlineData("null")]
    public async Task Unknown_origin_gets_no_cors_headers(string origin)
    {
        var response = await PreflightAsync("/connect/token", origin);

        response.Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse();
    }

    [Theory]
    [InlineData("native")]
    [InlineData("confidential")]
    public async Task Native_and_confidential_clients_origins_get_no_cors_headers(string kind)
    {
        var origin = await RegisterAsync(kind == "native" ? ClientKind.Public : ClientKind.Confidential, native: kind == "native");
        // A SPA registered afterwards proves the list was reloaded since, so the refusal is not a stale cache.
        await EventuallyAllowedAsync("/connect/token", await RegisterAsync(ClientKind.Public, native: false));

        var response = await PreflightAsync("/connect/token", origin);

        response.Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse();
    }

    [Fact]
    public async Task Login_page_never_answers_cross_origin_even_to_a_registered_spa()
    {
        var origin = await RegisterAsync(ClientKind.Public, native: false);
        await EventuallyAllowedAsync("/connect/token", origin);
        using var api = server.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/account/login");
        request.Headers.Add("Origin", origin);

        var response = await api.SendAsync(request);

        response.Headers.Contains("Access-Control-Allow-Origin").Should().BeFalse();
    }

    [Theory]
    [InlineData("/.well-known/openid-configuration")]
    [InlineData("/.well-known/jwks.json")]
    public async Task Discovery_and_jwks_are_readable_from_any_origin(string path)
    {
        using var api = server.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Origin", "https://any.example");

        var response = await api.SendAsync(request);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Headers.GetValues("Access-Control-Allow-Origin").Should().Equal("*");
    }

    private async Task<string> RegisterAsync(ClientKind kind, bool native)
    {
        var clientId = "cors-" + Guid.NewGuid().ToString("N")[..12];
        var port = Random.Shared.Next(20_000, 60_000);
        var redirectUri = native ? $"http://127.0.0.1:{port}/callback" : $"https://{clientId}.example:{port}/callback";
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId,
            Kind = kind,
            Secret = kind == ClientKind.Confidential ? new string('s', 40) : null,
            ApplicationType = native ? ClientApplicationType.Native : ClientApplicationType.Web,
            RedirectUris = [redirectUri],
            Scopes = ["openid", "api"],
            ImplicitConsent = true,
        });
        return new Uri(redirectUri).GetLeftPart(UriPartial.Authority);
    }

    // The origin list is cached and reloaded at most once a second, so a brand-new client is allowed within
    // about a second; ten seconds is far more than that on a loaded machine.
    private async Task<HttpResponseMessage> EventuallyAllowedAsync(string path, string origin)
    {
        for (var attempt = 0; ; attempt++)
        {
            var response = await PreflightAsync(path, origin);
            if (response.Headers.Contains("Access-Control-Allow-Origin") || attempt == 40)
            {
                return response;
            }

            await Task.Delay(250);
        }
    }

    private async Task<HttpResponseMessage> PreflightAsync(string path, string origin)
    {
        using var api = server.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        return await api.SendAsync(request);
    }
}
