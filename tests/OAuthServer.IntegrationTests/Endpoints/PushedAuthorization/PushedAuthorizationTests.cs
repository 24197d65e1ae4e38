using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Endpoints.PushedAuthorization;

/// <summary>Pushed authorization requests (RFC 9126).</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class PushedAuthorizationTests(OAuthServerFactory server)
{
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
}
