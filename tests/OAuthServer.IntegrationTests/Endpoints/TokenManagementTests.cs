using System.Net;
using System.Text;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Endpoints;

/// <summary>Introspection (RFC 7662), revocation (RFC 7009) and PAR (RFC 9126).</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class TokenManagementTests(OAuthServerFactory server)
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

    [Fact]
    public async Task Pushed_authorization_request_returns_a_request_uri_that_drives_the_flow()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var pkce = Pkce.Create();
        using var api = server.CreateApiClient();

        var pushed = await api.PostAsync("/connect/par", new FormUrlEncodedContent(
            BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce).ToDictionary(pair => pair.Key, pair => pair.Value!)));

        pushed.StatusCode.Should().Be(HttpStatusCode.Created);
        var par = await BrowserFlow.JsonAsync(pushed);
        var requestUri = par.GetProperty("request_uri").GetString()!;
        requestUri.Should().StartWith("urn:ietf:params:oauth:request_uri:");
        par.GetProperty("expires_in").GetInt32().Should().BePositive();

        var flow = new BrowserFlow(server);
        var redirect = await flow.SignInAsync($"/connect/authorize?client_id={clientId}&request_uri={Uri.EscapeDataString(requestUri)}", email, TestData.Password);

        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var query = BrowserFlow.Query(redirect.Headers.Location!);
        query.Should().ContainKey("code");
        query["state"].Should().Be("state-123");
        await (await api.RedeemCodeAsync(clientId, redirectUri, query["code"], pkce.Verifier)).ShouldSucceedAsync();
    }

    [Fact]
    public async Task Pushed_authorization_request_with_prompt_login_signs_in_once_and_returns_a_code()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["prompt"] = "login";
        using var api = server.CreateApiClient();
        var pushed = await BrowserFlow.JsonAsync(await api.PostAsync("/connect/par", new FormUrlEncodedContent(parameters.ToDictionary(pair => pair.Key, pair => pair.Value!))));

        var redirect = await new BrowserFlow(server).SignInAsync(
            $"/connect/authorize?client_id={clientId}&request_uri={Uri.EscapeDataString(pushed.GetProperty("request_uri").GetString()!)}", email, TestData.Password);

        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect, "the fresh sign-in satisfies prompt=login instead of asking again");
        BrowserFlow.Query(redirect.Headers.Location!).Should().ContainKey("code");
    }

    [Fact]
    public async Task Pushed_authorization_request_with_plain_PKCE_is_rejected()
    {
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["code_challenge_method"] = "plain";
        using var api = server.CreateApiClient();

        var pushed = await api.PostAsync("/connect/par", new FormUrlEncodedContent(parameters.ToDictionary(pair => pair.Key, pair => pair.Value!)));

        pushed.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await BrowserFlow.JsonAsync(pushed)).GetProperty("error").GetString().Should().Be("invalid_request");
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
