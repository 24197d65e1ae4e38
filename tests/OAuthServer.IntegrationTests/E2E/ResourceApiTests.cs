using System.Net;
using System.Net.Http.Headers;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.E2E;

/// <summary>
/// samples/ResourceApi, run as a process that knows only the issuer URL, against real tokens from the server:
/// RFC 9068 (typ at+jwt, aud) and RFC 6750 (401 for a missing or bad token, 403 insufficient_scope).
/// It requires the scope api.read and the audience api, so a token can be valid and still lack the scope.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class ResourceApiTests(OAuthServerFactory server) : IAsyncLifetime
{
    private SampleApp _api = null!;
    private string _clientId = null!;
    private string _redirectUri = null!;

    public async Task InitializeAsync()
    {
        _clientId = "api-sample-" + Guid.NewGuid().ToString("N")[..12];
        _redirectUri = $"http://127.0.0.1:8123/{_clientId}/callback";
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = _clientId,
            Kind = ClientKind.Public,
            RedirectUris = [_redirectUri],
            Scopes = ["openid", "offline_access", "api", "api.read"],
            ImplicitConsent = true,
        });
        _api = await SampleApp.StartAsync("ResourceApi", TestPorts.Free(), new Dictionary<string, string>
        {
            ["ResourceApi:Issuer"] = server.Issuer.ToString(),
            ["ResourceApi:Audience"] = "api",
            ["ResourceApi:RequiredScope"] = "api.read",
        }, "/health");
    }

    public async Task DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task Resource_api_answers_a_token_with_the_audience_and_the_scope()
    {
        var tokens = await TokensAsync("openid api api.read");

        var response = await CallAsync(tokens.GetProperty("access_token").GetString());

        response.StatusCode.Should().Be(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        (await response.Content.ReadAsStringAsync()).Should().Contain("Hello from the resource API");
    }

    [Fact]
    public async Task Resource_api_answers_403_insufficient_scope_to_a_valid_token_without_the_scope()
    {
        var tokens = await TokensAsync("openid api");

        var response = await CallAsync(tokens.GetProperty("access_token").GetString());

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        response.Headers.WwwAuthenticate.ToString().Should().Contain("insufficient_scope").And.Contain("api.read");
    }

    [Fact]
    public async Task Resource_api_answers_401_to_a_token_for_another_audience_an_id_token_a_forged_one_or_none()
    {
        var otherAudience = await TokensAsync("openid api.read");
        var tokens = await TokensAsync("openid api api.read");
        var accessToken = tokens.GetProperty("access_token").GetString()!;
        var forged = accessToken[..^4] + (accessToken.EndsWith("AAAA", StringComparison.Ordinal) ? "BBBB" : "AAAA");

        // aud is api.read only; the ID token is typ JWT (not at+jwt) with aud = the client; a changed signature.
        foreach (var token in new[] { otherAudience.GetProperty("access_token").GetString(), tokens.GetProperty("id_token").GetString(), forged, null })
        {
            var response = await CallAsync(token);

            response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
            response.Headers.WwwAuthenticate.ToString().Should().StartWith("Bearer");
        }
    }

    [Fact]
    public async Task Resource_api_answers_a_DPoP_bound_token_with_the_DPoP_scheme_and_a_proof_of_its_key()
    {
        using var key = DpopKey.Es256();
        var accessToken = (await TokensAsync("openid api api.read", key)).GetProperty("access_token").GetString()!;

        var response = await CallAsync(accessToken, "DPoP", key.Proof("GET", HelloUrl, accessToken));

        response.StatusCode.Should().Be(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Resource_api_refuses_a_DPoP_bound_token_presented_as_Bearer()
    {
        using var key = DpopKey.Es256();
        var accessToken = (await TokensAsync("openid api api.read", key)).GetProperty("access_token").GetString()!;

        foreach (var proof in new[] { null, key.Proof("GET", HelloUrl, accessToken) })
        {
            var response = await CallAsync(accessToken, "Bearer", proof);

            response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
            response.Headers.WwwAuthenticate.ToString().Should().StartWith("DPoP").And.Contain("invalid_token");
        }
    }

    [Theory]
    [InlineData("another key")]
    [InlineData("replayed")]
    [InlineData("ath of another token")]
    [InlineData("htu of another path")]
    [InlineData("no proof")]
    public async Task Resource_api_refuses_a_DPoP_bound_token_with_a_bad_proof(string broken)
    {
        using var key = DpopKey.Es256();
        using var other = DpopKey.Rs256();
        var accessToken = (await TokensAsync("openid api api.read", key)).GetProperty("access_token").GetString()!;
        var proof = broken switch
        {
            "another key" => other.Proof("GET", HelloUrl, accessToken),
            "replayed" => key.Proof("GET", HelloUrl, accessToken),
            "ath of another token" => key.Proof("GET", HelloUrl, accessToken[..^1]),
            "htu of another path" => key.Proof("GET", new Uri(_api.Origin, "/api/other").ToString(), accessToken),
            _ => null,
        };
        if (broken == "replayed")
        {
            (await CallAsync(accessToken, "DPoP", proof)).StatusCode.Should().Be(HttpStatusCode.OK);
        }

        var response = await CallAsync(accessToken, "DPoP", proof);

        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized, broken);
        response.Headers.WwwAuthenticate.ToString().Should().StartWith("DPoP").And.Contain("invalid_dpop_proof");
    }

    private string HelloUrl => new Uri(_api.Origin, "/api/hello").ToString();

    private async Task<System.Text.Json.JsonElement> TokensAsync(string scope, DpopKey? key = null)
    {
        var email = await server.CreateUserAsync();
        var signedIn = await SignedIn.ForAsync(server, email, _clientId, _redirectUri, scope);
        using var api = server.CreateApiClient();
        if (key is null)
        {
            return await signedIn.RedeemAsync(api);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "authorization_code", ["client_id"] = _clientId, ["redirect_uri"] = _redirectUri,
                ["code"] = signedIn.Code, ["code_verifier"] = signedIn.Pkce.Verifier,
            }),
        };
        request.Headers.Add("DPoP", key.Proof("POST", server.Issuer + "connect/token"));
        return await (await api.SendAsync(request)).ShouldSucceedAsync();
    }

    private async Task<HttpResponseMessage> CallAsync(string? token, string scheme = "Bearer", string? proof = null)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_api.Origin, "/api/hello"));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue(scheme, token);
        }

        if (proof is not null)
        {
            request.Headers.Add("DPoP", proof);
        }

        return await http.SendAsync(request);
    }
}
