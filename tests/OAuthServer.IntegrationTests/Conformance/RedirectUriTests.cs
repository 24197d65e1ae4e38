using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>Threat model 2.1: a code is only ever sent to a redirect URI registered for the client, matched exactly.</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class RedirectUriTests(OAuthServerFactory server)
{
    [Theory]
    [InlineData("https://attacker.example/callback")]
    [InlineData("http://127.0.0.1:8123/other/callback")]
    public async Task Unregistered_redirect_uri_is_never_redirected_to(string redirectUri)
    {
        var (clientId, _) = await server.CreatePublicClientAsync();

        await ShouldNotRedirectAsync(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create()));
    }

    [Theory]
    [InlineData("/extra")]
    [InlineData("?next=https://attacker.example")]
    [InlineData("/")]
    public async Task Altered_registered_redirect_uri_is_never_redirected_to(string alteration)
    {
        var (clientId, registered) = await server.CreatePublicClientAsync();

        await ShouldNotRedirectAsync(BrowserFlow.AuthorizeParameters(clientId, registered + alteration, Pkce.Create()));
    }

    [Fact]
    public async Task Redirect_uri_differing_only_in_case_is_never_redirected_to()
    {
        var (clientId, registered) = await server.CreatePublicClientAsync();

        await ShouldNotRedirectAsync(BrowserFlow.AuthorizeParameters(clientId, registered.Replace("callback", "CALLBACK", StringComparison.Ordinal), Pkce.Create()));
    }

    [Fact]
    public async Task Unknown_client_is_never_redirected_to()
    {
        await ShouldNotRedirectAsync(BrowserFlow.AuthorizeParameters("no-such-client", "http://127.0.0.1:8123/cb", Pkce.Create()));
    }

    [Fact]
    public async Task Token_request_with_a_different_redirect_uri_than_the_authorize_request_is_rejected()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();

        var response = await api.RedeemCodeAsync(signedIn.ClientId, signedIn.RedirectUri + "/x", signedIn.Code, signedIn.Pkce.Verifier);

        await response.ShouldFailWithAsync("invalid_grant");
    }

    // The error is shown by the server itself; it must not bounce to the unverified URI, even after sign-in.
    private async Task ShouldNotRedirectAsync(Dictionary<string, string?> parameters)
    {
        var flow = new BrowserFlow(server);
        var response = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(parameters));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Headers.Location.Should().BeNull();
        (await response.Content.ReadAsStringAsync()).Should().Contain("invalid_request");
    }
}
