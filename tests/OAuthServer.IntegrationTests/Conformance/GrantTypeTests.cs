using System.Net;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>OAuth 2.1 removes the implicit and password grants; client_credentials is for confidential clients.</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class GrantTypeTests(OAuthServerFactory server)
{
    [Theory]
    [InlineData("token")]
    [InlineData("id_token token")]
    [InlineData("code token")]
    public async Task Implicit_and_hybrid_response_types_are_rejected(string responseType)
    {
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["response_type"] = responseType;
        parameters["nonce"] = "n-0S6_WzA2Mj";

        var response = await new BrowserFlow(server).FollowAsync(BrowserFlow.AuthorizeUrl(parameters));

        var location = response.Headers.Location?.ToString() ?? string.Empty;
        location.Should().NotContain("access_token", "no token may ever travel in the front channel");
        location.Should().NotContain("code=");
        if (response.StatusCode == HttpStatusCode.Redirect)
        {
            location.Should().Contain("error=unsupported_response_type");
        }
        else
        {
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        }
    }

    [Fact]
    public async Task Password_grant_is_rejected()
    {
        var email = await server.CreateUserAsync();
        var (clientId, _) = await server.CreatePublicClientAsync();
        using var api = server.CreateApiClient();

        var response = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password",
            ["client_id"] = clientId,
            ["username"] = email,
            ["password"] = TestData.Password,
        }));

        await response.ShouldFailWithAsync("unsupported_grant_type");
    }

    [Fact]
    public async Task Confidential_client_gets_a_token_with_client_credentials()
    {
        var clientId = await RegisterServiceClientAsync();
        using var api = server.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["scope"] = "api" }),
        };
        request.Headers.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{clientId}:a-very-long-client-secret-for-the-tests-000")));

        var tokens = await (await api.SendAsync(request)).ShouldSucceedAsync();

        tokens.GetProperty("access_token").GetString().Should().NotBeNullOrEmpty();
        tokens.TryGetProperty("refresh_token", out _).Should().BeFalse("client_credentials never yields a refresh token");
    }

    [Fact]
    public async Task Client_credentials_with_a_wrong_secret_is_rejected()
    {
        var clientId = await RegisterServiceClientAsync();
        using var api = server.CreateApiClient();

        var response = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = clientId,
            ["client_secret"] = "a-very-long-client-secret-for-the-tests-001",
        }));

        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await BrowserFlow.JsonAsync(response)).GetProperty("error").GetString().Should().Be("invalid_client");
    }

    [Fact]
    public async Task Public_client_can_not_use_client_credentials()
    {
        var (clientId, _) = await server.CreatePublicClientAsync();
        using var api = server.CreateApiClient();

        var response = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = clientId,
        }));

        ((int)response.StatusCode).Should().BeOneOf(400, 401);
        (await BrowserFlow.JsonAsync(response)).GetProperty("error").GetString().Should().BeOneOf("unauthorized_client", "invalid_client", "invalid_request");
    }

    private Task<string> RegisterServiceClientAsync() => server.RegisterClientAsync(new ClientRegistration
    {
        ClientId = "svc-" + Guid.NewGuid().ToString("N")[..12],
        Kind = ClientKind.Confidential,
        Secret = "a-very-long-client-secret-for-the-tests-000",
        AllowClientCredentials = true,
        Scopes = ["api"],
    });
}
