using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>OAuth 2.1 §4.1.1 and threat model 2.2: PKCE is required, and only with S256.</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class PkceTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Plain_code_challenge_method_is_rejected()
    {
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["code_challenge_method"] = "plain";

        await ShouldBeRefusedAsync(parameters, redirectUri);
    }

    [Fact]
    public async Task Code_challenge_without_a_method_is_rejected_rather_than_treated_as_plain()
    {
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters.Remove("code_challenge_method");

        await ShouldBeRefusedAsync(parameters, redirectUri);
    }

    [Fact]
    public async Task Missing_code_challenge_is_rejected()
    {
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters.Remove("code_challenge");
        parameters.Remove("code_challenge_method");

        await ShouldBeRefusedAsync(parameters, redirectUri);
    }

    [Fact]
    public async Task Wrong_code_verifier_is_rejected()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();

        var response = await api.RedeemCodeAsync(signedIn.ClientId, signedIn.RedirectUri, signedIn.Code, Pkce.Create().Verifier);

        await response.ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Missing_code_verifier_is_rejected()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();

        var response = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["client_id"] = signedIn.ClientId,
            ["redirect_uri"] = signedIn.RedirectUri,
            ["code"] = signedIn.Code,
        }));

        await response.ShouldFailWithAsync("invalid_request");
    }

    [Fact]
    public async Task Discovery_advertises_S256_only()
    {
        using var api = server.CreateApiClient();
        var discovery = await BrowserFlow.JsonAsync(await api.GetAsync("/.well-known/openid-configuration"));

        discovery.GetProperty("code_challenge_methods_supported").EnumerateArray().Select(method => method.GetString())
            .Should().Equal("S256");
    }

    // OpenIddict checks the PKCE parameters before it has verified the redirect URI, so the refusal is shown by
    // the server itself (invalid_request) and nothing is sent to the redirect URI. The user is never asked to sign in.
    private async Task ShouldBeRefusedAsync(Dictionary<string, string?> parameters, string redirectUri)
    {
        var flow = new BrowserFlow(server);
        var response = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(parameters));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Headers.Location.Should().BeNull("no code and no redirect to {0}", redirectUri);
        var body = await response.Content.ReadAsStringAsync();
        body.Should().Contain("invalid_request").And.Contain("code_challenge");
    }
}
