using System.Net;
using System.Text.Json;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>Back-channel calls to the token endpoint, as a public client makes them.</summary>
public static class TokenRequests
{
    public static Task<HttpResponseMessage> RedeemCodeAsync(this HttpClient client, string clientId, string redirectUri, string code, string verifier) =>
        client.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["client_id"] = clientId,
            ["redirect_uri"] = redirectUri,
            ["code"] = code,
            ["code_verifier"] = verifier,
        }));

    public static Task<HttpResponseMessage> RefreshAsync(this HttpClient client, string clientId, string refreshToken) =>
        client.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["client_id"] = clientId,
            ["refresh_token"] = refreshToken,
        }));

    /// <summary>
    /// A client_credentials access token. With <paramref name="waitForClient"/>, retries for up to 30 s while the
    /// client is refused: the admin bootstrap client is created by a hosted service just after start-up.
    /// </summary>
    public static async Task<string> ClientCredentialsTokenAsync(this HttpClient api, string clientId, string secret, string scope, bool waitForClient = false)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var response = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials",
                ["client_id"] = clientId,
                ["client_secret"] = secret,
                ["scope"] = scope,
            }));
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
            }

            if (!waitForClient || attempt >= 150)
            {
                throw new InvalidOperationException($"client_credentials for {clientId} failed: {(int)response.StatusCode} {body}");
            }

            await Task.Delay(200);
        }
    }

    public static async Task<JsonElement> ShouldSucceedAsync(this HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(HttpStatusCode.OK, "the token endpoint answered {0}", body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static async Task ShouldFailWithAsync(this HttpResponseMessage response, string error)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest, "the request must be refused; the body was {0}", body);
        JsonDocument.Parse(body).RootElement.GetProperty("error").GetString().Should().Be(error);
    }
}

/// <summary>A signed-in user with a code or tokens, for tests that start after the front channel.</summary>
public sealed record SignedIn(string ClientId, string RedirectUri, Pkce Pkce, string Code)
{
    /// <summary>The browser that signed in: it holds the session cookie.</summary>
    public BrowserFlow? Flow { get; init; }

    /// <summary>A new user signs in to a new first-party public client.</summary>
    public static async Task<SignedIn> StartAsync(OAuthServerFactory server, string scope = "openid offline_access api")
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        return await ForAsync(server, email, clientId, redirectUri, scope);
    }

    /// <summary>The given user signs in to the given client through the login form, up to the code.</summary>
    public static async Task<SignedIn> ForAsync(OAuthServerFactory server, string email, string clientId, string redirectUri, string scope = "openid offline_access api")
    {
        var pkce = Pkce.Create();
        var flow = new BrowserFlow(server);
        var redirect = await flow.SignInAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce, scope)), email, TestData.Password);
        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var code = BrowserFlow.Query(redirect.Headers.Location!)["code"];
        return new(clientId, redirectUri, pkce, code) { Flow = flow };
    }

    public async Task<JsonElement> RedeemAsync(HttpClient client) =>
        await (await client.RedeemCodeAsync(ClientId, RedirectUri, Code, Pkce.Verifier)).ShouldSucceedAsync();
}
