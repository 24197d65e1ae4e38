using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.Conformance.Dpop.DpopHttp;

namespace OAuthServer.IntegrationTests.Conformance.Dpop;

/// <summary>
/// Every rule of RFC 9449 §4.3 at the token endpoint, each by a request that breaks it: the answer is 400
/// <c>invalid_dpop_proof</c> (§5), never a token and never a 500. Driven through client_credentials, the grant
/// with the fewest other moving parts.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class DpopProofTests(OAuthServerFactory server)
{
    public static TheoryData<string> BrokenProofs => new()
    {
        "wrong htm", "htu of another endpoint", "htu of another host", "htu with https", "htu with a trailing slash", "htu in another case",
        "iat too old", "iat in the future", "iat missing", "iat as a string", "jti missing", "jti too long", "typ JWT", "typ missing",
        "alg none", "HS256 under a key of the sender's choice", "private key in the jwk", "signed by another key than the jwk", "jwk missing",
        "jwk of another curve", "crit header", "garbage", "two JWS parts", "not base64", "JSON array payload",
    };

    [Theory]
    [MemberData(nameof(BrokenProofs))]
    public async Task A_proof_that_breaks_a_rule_is_refused_with_invalid_dpop_proof(string broken)
    {
        using var key = DpopKey.Es256();
        using var other = DpopKey.Es256();
        var url = TokenUrl(server.Issuer);
        var proof = broken switch
        {
            "wrong htm" => key.Proof("GET", url),
            "htu of another endpoint" => key.Proof("POST", UserInfoUrl(server.Issuer)),
            "htu of another host" => key.Proof("POST", url.Replace("127.0.0.1", "localhost", StringComparison.Ordinal)),
            "htu with https" => key.Proof("POST", url.Replace("http://", "https://", StringComparison.Ordinal)),
            // RFC 3986 §6.2.3 doesn't make "/token/" the same resource as "/token", nor does any normalization fold case in a path.
            "htu with a trailing slash" => key.Proof("POST", url + "/"),
            "htu in another case" => key.Proof("POST", url.Replace("/connect/token", "/Connect/Token", StringComparison.Ordinal)),
            "iat too old" => key.Proof("POST", url, issuedAt: DateTimeOffset.UtcNow.AddSeconds(-90)),
            "iat in the future" => key.Proof("POST", url, issuedAt: DateTimeOffset.UtcNow.AddSeconds(60)),
            "iat missing" => key.Proof("POST", url, claims: claims => claims.Remove("iat")),
            "iat as a string" => key.Proof("POST", url, claims: claims => claims["iat"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)),
            "jti missing" => key.Proof("POST", url, claims: claims => claims.Remove("jti")),
            "jti too long" => key.Proof("POST", url, jti: new string('j', 257)),
            "typ JWT" => key.Proof("POST", url, header: header => header["typ"] = "JWT"),
            "typ missing" => key.Proof("POST", url, header: header => header.Remove("typ")),
            "alg none" => key.UnsignedProof("POST", url),
            "HS256 under a key of the sender's choice" => key.SymmetricProof("POST", url),
            "private key in the jwk" => key.Proof("POST", url, header: header => header["jwk"] = key.PrivateJwk),
            "signed by another key than the jwk" => other.Proof("POST", url, header: header => header["jwk"] = key.PublicJwk),
            "jwk missing" => key.Proof("POST", url, header: header => header.Remove("jwk")),
            "jwk of another curve" => key.Proof("POST", url, header: header => header["jwk"] = new Dictionary<string, object>(key.PublicJwk) { ["crv"] = "P-384" }),
            "crit header" => key.Proof("POST", url, header: header => header["crit"] = new[] { "exp" }),
            "garbage" => "not a jwt at all",
            "two JWS parts" => string.Join('.', key.Proof("POST", url).Split('.')[..2]),
            "not base64" => "e30.!!!.e30",
            "JSON array payload" => "eyJ0eXAiOiJkcG9wK2p3dCJ9.W10.c2ln",
            _ => throw new ArgumentOutOfRangeException(nameof(broken)),
        };
        var clientId = await MachineClientAsync(server);
        using var api = server.CreateApiClient();

        var response = await PostAsync(api, "/connect/token", ClientCredentials(clientId), proof);

        var body = await ErrorAsync(response);
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest, body.ToString());
        body.GetProperty("error").GetString().Should().Be("invalid_dpop_proof", broken);
        body.GetProperty("error_description").GetString().Should().NotContain(proof.Length > 8 ? proof[..8] : "\u0000", "a refusal never echoes the proof");
        // RFC 6749 section 5.2: error_description is printable ASCII without '"' and '\', so it fits any header too.
        body.GetProperty("error_description").GetString().Should().MatchRegex("^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]+$");
    }

    [Fact]
    public async Task Two_DPoP_headers_or_two_folded_into_one_are_refused()
    {
        using var key = DpopKey.Es256();
        var clientId = await MachineClientAsync(server);
        using var api = server.CreateApiClient();
        var url = TokenUrl(server.Issuer);

        var two = await PostAsync(api, "/connect/token", ClientCredentials(clientId), key.Proof("POST", url), key.Proof("POST", url));
        var folded = await PostAsync(api, "/connect/token", ClientCredentials(clientId), key.Proof("POST", url) + ", " + key.Proof("POST", url));

        foreach (var response in new[] { two, folded })
        {
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
            (await ErrorAsync(response)).GetProperty("error").GetString().Should().Be("invalid_dpop_proof");
        }
    }

    // Note: RFC 9449 §4.3 item 9 ignores query and fragment; RFC 3986 §6.2.2 and §6.2.3 normalization makes the case
    // of scheme and host, percent-encoded unreserved characters, dot segments and a default port irrelevant.
    [Theory]
    [InlineData("query string")]
    [InlineData("fragment")]
    [InlineData("upper-case scheme and host")]
    [InlineData("percent-encoded unreserved characters")]
    [InlineData("dot segments")]
    public async Task A_proof_whose_htu_is_another_spelling_of_the_endpoint_is_accepted(string spelling)
    {
        using var key = DpopKey.Rs256();
        var url = TokenUrl(server.Issuer);
        var htu = spelling switch
        {
            "query string" => url + "?foo=bar",
            "fragment" => url + "#section",
            "upper-case scheme and host" => url.Replace("http://", "HTTP://", StringComparison.Ordinal),
            "percent-encoded unreserved characters" => url.Replace("/connect/token", "/%63onnect/to%6Ben", StringComparison.Ordinal),
            "dot segments" => url.Replace("/connect/token", "/connect/x/../token", StringComparison.Ordinal),
            _ => throw new ArgumentOutOfRangeException(nameof(spelling)),
        };
        var clientId = await MachineClientAsync(server);
        using var api = server.CreateApiClient();

        var tokens = await (await PostAsync(api, "/connect/token", ClientCredentials(clientId), key.Proof("POST", htu))).ShouldSucceedAsync();

        Jkt(tokens.GetProperty("access_token").GetString()!).Should().Be(key.Thumbprint);
    }

    [Fact]
    public async Task A_proof_is_single_use_and_its_replay_is_an_event()
    {
        using var key = DpopKey.Es256();
        var clientId = await MachineClientAsync(server);
        using var api = server.CreateApiClient();
        var proof = key.Proof("POST", TokenUrl(server.Issuer));

        await (await PostAsync(api, "/connect/token", ClientCredentials(clientId), proof)).ShouldSucceedAsync();
        await (await PostAsync(api, "/connect/token", ClientCredentials(clientId), proof)).ShouldFailWithAsync("invalid_dpop_proof");
        // A new proof that reuses the jti of the first is a replay too, whatever else changed.
        var sameJti = key.Proof("POST", TokenUrl(server.Issuer) + "?again", jti: new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(proof).Id);
        await (await PostAsync(api, "/connect/token", ClientCredentials(clientId), sameJti)).ShouldFailWithAsync("invalid_dpop_proof");

        (await EventCountAsync(server, "dpop.proof_replayed", clientId)).Should().Be(2);
    }

    [Fact]
    public async Task Of_many_simultaneous_requests_with_one_proof_exactly_one_gets_a_token()
    {
        const int Attempts = 12;
        using var key = DpopKey.Es256();
        var clientId = await MachineClientAsync(server);
        var proof = key.Proof("POST", TokenUrl(server.Issuer));
        using var start = new SemaphoreSlim(0);

        var attempts = Enumerable.Range(0, Attempts).Select(async _ =>
        {
            using var api = server.CreateApiClient();
            await start.WaitAsync();
            using var response = await PostAsync(api, "/connect/token", ClientCredentials(clientId), proof);
            return response.StatusCode;
        }).ToList();
        start.Release(Attempts);
        var statuses = await Task.WhenAll(attempts);

        statuses.Count(status => status == HttpStatusCode.OK).Should().Be(1);
        statuses.Count(status => status == HttpStatusCode.BadRequest).Should().Be(Attempts - 1);
    }
}
