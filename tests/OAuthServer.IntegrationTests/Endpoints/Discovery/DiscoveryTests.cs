using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.Protocol;

namespace OAuthServer.IntegrationTests.Endpoints.Discovery;

[Collection(SharedPostgresServer.Name)]
public sealed class DiscoveryTests(OAuthServerFactory server)
{
    [Theory]
    [InlineData("/.well-known/openid-configuration")]
    [InlineData("/.well-known/oauth-authorization-server")]
    public async Task Discovery_document_describes_the_OAuth_2_1_surface(string path)
    {
        using var api = server.CreateApiClient();
        var response = await api.GetAsync(path);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        var document = await BrowserFlow.JsonAsync(response);
        var issuer = server.Issuer.ToString();
        document.GetProperty("issuer").GetString().Should().Be(issuer);
        document.GetProperty("authorization_endpoint").GetString().Should().Be(issuer + "connect/authorize");
        document.GetProperty("token_endpoint").GetString().Should().Be(issuer + "connect/token");
        document.GetProperty("jwks_uri").GetString().Should().Be(issuer + ".well-known/jwks.json");
        document.GetProperty("revocation_endpoint").GetString().Should().Be(issuer + "connect/revoke");
        document.GetProperty("introspection_endpoint").GetString().Should().Be(issuer + "connect/introspect");
        document.GetProperty("userinfo_endpoint").GetString().Should().Be(issuer + "connect/userinfo");
        document.GetProperty("end_session_endpoint").GetString().Should().Be(issuer + "connect/endsession");
        document.GetProperty("pushed_authorization_request_endpoint").GetString().Should().Be(issuer + "connect/par");
        Strings(document, "response_types_supported").Should().Equal("code");
        Strings(document, "grant_types_supported").Should().BeEquivalentTo("authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange");
        Strings(document, "code_challenge_methods_supported").Should().Equal("S256");
        Strings(document, "id_token_signing_alg_values_supported").Should().Contain("RS256");
        Strings(document, "scopes_supported").Should().Contain(["openid", "offline_access"]);
        document.GetProperty("authorization_response_iss_parameter_supported").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public async Task Both_discovery_documents_are_the_same()
    {
        using var api = server.CreateApiClient();

        var openid = await api.GetStringAsync("/.well-known/openid-configuration");
        var oauth = await api.GetStringAsync("/.well-known/oauth-authorization-server");

        oauth.Should().Be(openid);
    }

    [Theory]
    [InlineData("/.well-known/openid-configuration")]
    [InlineData("/.well-known/oauth-authorization-server")]
    public async Task Discovery_document_is_cacheable_with_an_ETag_that_revalidates(string path)
    {
        using var api = server.CreateApiClient();

        var first = await api.GetAsync(path);

        first.StatusCode.Should().Be(HttpStatusCode.OK);
        var cacheControl = first.Headers.CacheControl!;
        cacheControl.Public.Should().BeTrue();
        cacheControl.NoStore.Should().BeFalse();
        cacheControl.NoCache.Should().BeFalse();
        cacheControl.MaxAge.Should().Be(WellKnownResponseCache.DiscoveryMaxAge);
        first.Headers.Pragma.Should().BeEmpty("an HTTP/1.0 no-cache would contradict the Cache-Control");
        var etag = first.Headers.ETag!;
        etag.IsWeak.Should().BeFalse();
        var document = await first.Content.ReadAsStringAsync();

        using var revalidate = new HttpRequestMessage(HttpMethod.Get, path);
        revalidate.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"another-version\""));
        revalidate.Headers.IfNoneMatch.Add(etag);
        var notModified = await api.SendAsync(revalidate);
        notModified.StatusCode.Should().Be(HttpStatusCode.NotModified, "one of the tags the client holds is current");
        notModified.Headers.ETag.Should().Be(etag);
        notModified.Headers.CacheControl!.MaxAge.Should().Be(WellKnownResponseCache.DiscoveryMaxAge, "a 304 renews the cached copy's freshness");
        (await notModified.Content.ReadAsByteArrayAsync()).Should().BeEmpty();

        using var stale = new HttpRequestMessage(HttpMethod.Get, path);
        stale.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"another-version\""));
        var changed = await api.SendAsync(stale);
        changed.StatusCode.Should().Be(HttpStatusCode.OK);
        (await changed.Content.ReadAsStringAsync()).Should().Be(document);
        changed.Headers.ETag.Should().Be(etag, "the same document has the same tag");
    }

    [Fact]
    public async Task JWKS_publishes_public_RSA_signing_keys_with_kid_and_no_private_parts()
    {
        using var api = server.CreateApiClient();
        var jwks = await BrowserFlow.JsonAsync(await api.GetAsync("/.well-known/jwks.json"));

        var keys = jwks.GetProperty("keys").EnumerateArray().ToList();
        keys.Should().NotBeEmpty();
        foreach (var key in keys)
        {
            key.GetProperty("kty").GetString().Should().Be("RSA");
            key.GetProperty("use").GetString().Should().Be("sig");
            key.GetProperty("alg").GetString().Should().Be("RS256");
            key.GetProperty("kid").GetString().Should().NotBeNullOrEmpty();
            foreach (var privatePart in new[] { "d", "p", "q", "dp", "dq", "qi" })
            {
                key.TryGetProperty(privatePart, out _).Should().BeFalse($"the private parameter '{privatePart}' must never be published");
            }
        }
    }

    private static IEnumerable<string?> Strings(JsonElement document, string name) =>
        document.GetProperty(name).EnumerateArray().Select(value => value.GetString());
}
