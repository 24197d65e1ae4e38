using System.Net;
using System.Text;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Endpoints.Introspection;

/// <summary>Introspection (RFC 7662), and what it reports after a revocation (RFC 7009).</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class IntrospectionTests(OAuthServerFactory server)
{
    private const string Secret = "introspection-client-secret-0123456789";

    [Fact]
    public async Task Introspection_reports_an_access_token_as_active_to_its_audience()
    {
        // The resource server is a confidential client whose client_id is the resource named by the scope.
        var resource = "rs-" + Guid.NewGuid().ToString("N")[..12];
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await CreateCodeClientAsync(kind: ClientKind.Public, scopes: ["openid", resource]);
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = resource,
            Kind = ClientKind.Confidential,
            Secret = Secret,
            AllowClientCredentials = true,
        });
        using var api = server.CreateApiClient();
        var signedIn = await SignedIn.ForAsync(server, email, clientId, redirectUri, "openid " + resource);
        var accessToken = (await signedIn.RedeemAsync(api))
            .GetProperty("access_token").GetString()!;

        var body = await IntrospectAsync(api, resource, accessToken);

        body.GetProperty("active").GetBoolean().Should().BeTrue();
        body.GetProperty("client_id").GetString().Should().Be(clientId);
        body.GetProperty("aud").GetString().Should().Be(resource);
    }

    [Fact]
    public async Task Refresh_token_is_active_until_revoked_then_inactive()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await CreateCodeClientAsync(kind: ClientKind.Confidential, scopes: ["openid", "offline_access"]);
        using var api = server.CreateApiClient();
        var signedIn = await SignedIn.ForAsync(server, email, clientId, redirectUri, "openid offline_access");
        var redeem = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["client_id"] = clientId,
            ["client_secret"] = Secret,
            ["redirect_uri"] = redirectUri,
            ["code"] = signedIn.Code,
            ["code_verifier"] = signedIn.Pkce.Verifier,
        }));
        var refreshToken = (await redeem.ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;
        (await IntrospectAsync(api, clientId, refreshToken)).GetProperty("active").GetBoolean().Should().BeTrue();

        var revoke = await api.PostAsync("/connect/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = clientId,
            ["client_secret"] = Secret,
            ["token"] = refreshToken,
        }));

        revoke.StatusCode.Should().Be(HttpStatusCode.OK);
        (await IntrospectAsync(api, clientId, refreshToken)).GetProperty("active").GetBoolean().Should().BeFalse();
    }

    private async Task<(string ClientId, string RedirectUri)> CreateCodeClientAsync(ClientKind kind, string[] scopes)
    {
        var clientId = "app-" + Guid.NewGuid().ToString("N")[..12];
        var redirectUri = $"https://app.example/{clientId}/callback";
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId,
            Kind = kind,
            Secret = kind == ClientKind.Confidential ? Secret : null,
            RedirectUris = [redirectUri],
            Scopes = scopes,
            ImplicitConsent = true,
        });
        return (clientId, redirectUri);
    }

    private static async Task<System.Text.Json.JsonElement> IntrospectAsync(HttpClient api, string clientId, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/introspect")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token }),
        };
        request.Headers.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{clientId}:{Secret}")));
        var response = await api.SendAsync(request);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        return await BrowserFlow.JsonAsync(response);
    }
}
