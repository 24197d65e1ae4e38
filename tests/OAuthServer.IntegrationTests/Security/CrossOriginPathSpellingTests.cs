using System.Net;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// The CORS rules follow the endpoint, not one spelling of its path: the spellings OpenIddict serves (case, a
/// trailing slash) get the same rules as the canonical path, and a path outside the table gets none.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class CrossOriginPathSpellingTests(OAuthServerFactory server)
{
    [Fact]
    public async Task A_registered_spa_origin_is_allowed_on_every_served_spelling_of_its_endpoints()
    {
        var clientId = "cors-spell-" + Guid.NewGuid().ToString("N")[..8];
        var redirectUri = $"https://{clientId}.example/callback";
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId, Kind = ClientKind.Public, ApplicationType = ClientApplicationType.Web,
            RedirectUris = [redirectUri], Scopes = ["openid"], ImplicitConsent = true,
        });
        var origin = new Uri(redirectUri).GetLeftPart(UriPartial.Authority);
        // Note: the origin list is reloaded at most once a second; a new client is allowed within about that.
        for (var attempt = 0; attempt < 40 && AllowedOrigin(await PreflightAsync("/connect/token", origin, "POST")) is null; attempt++)
        {
            await Task.Delay(250);
        }

        foreach (var spelling in new[] { "/connect/token", "/connect/token/", "/CONNECT/TOKEN", "/Connect/Revoke/", "/connect/USERINFO/" })
        {
            AllowedOrigin(await PreflightAsync(spelling, origin, "POST")).Should().Be(origin, spelling);
        }

        foreach (var spelling in new[] { "/.well-known/jwks.json/", "/.WELL-KNOWN/OPENID-CONFIGURATION" })
        {
            AllowedOrigin(await PreflightAsync(spelling, origin, "GET")).Should().Be("*", spelling);
        }

        AllowedOrigin(await PreflightAsync("/connect/tokens", origin, "POST")).Should().BeNull("a path outside the table has no CORS rule");
        AllowedOrigin(await PreflightAsync("/connect/authorize", origin, "POST")).Should().BeNull("the authorization endpoint is navigated to, never called from script");
    }

    private static string? AllowedOrigin(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) ? values.Single() : null;

    private async Task<HttpResponseMessage> PreflightAsync(string path, string origin, string method)
    {
        using var api = server.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        return await api.SendAsync(request);
    }
}
