using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace OAuthServer.IntegrationTests.Reliability;

/// <summary>
/// Threat models "input validation" and "information disclosure": ten thousand generated hostile requests over
/// every endpoint. None may get a 5xx, a stack trace, a reflected unescaped marker, an injected header, or a 4xx
/// without an error body; the server stays ready. The generator is seeded, so a failure replays exactly.
/// </summary>
public sealed partial class HostileInputFuzzTests(ITestOutputHelper output)
{
    private const int Inputs = 10_000;
    private const int Seed = 20_261_125;
    private const int Parallelism = 8;

    [Fact]
    public async Task Ten_thousand_hostile_requests_get_clean_4xx_answers_and_the_server_stays_ready()
    {
        // Note: with an admin client and registration on, forged and foreign bearers meet the admin validation stack.
        await using var server = await CustomServer.StartAsync(new()
        {
            ["Admin:BootstrapClientSecret"] = "fuzz-bootstrap-secret-0123456789abcdefghij",
            ["Admin:DynamicRegistrationEnabled"] = "true",
        });
        using var api = server.CreateApiClient();
        var signedIn = await SignedIn.StartAsync(server);
        var tokens = await signedIn.RedeemAsync(api);
        var jwks = await api.GetStringAsync("/.well-known/jwks.json");
        var generator = new HostileRequestGenerator(Seed, server.Port, new TokenSeeds(
            tokens.GetProperty("access_token").GetString()!, tokens.GetProperty("refresh_token").GetString()!,
            tokens.GetProperty("id_token").GetString()!, jwks));

        var statuses = new ConcurrentDictionary<string, int>();
        var byEndpoint = new ConcurrentDictionary<string, int>();
        var failures = new ConcurrentQueue<string>();
        var slowest = new ConcurrentQueue<(double Milliseconds, string Input)>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var batch = 0; batch < Inputs; batch += 2_000)
        {
            await Parallel.ForEachAsync(Enumerable.Range(batch, Math.Min(2_000, Inputs - batch)), new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (index, _) =>
            {
                var input = generator.Create(index);
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var response = await RawHttp.SendAsync(server.Port, input.Bytes, TimeSpan.FromSeconds(30));
                slowest.Enqueue((System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds, $"#{index} {input.Method} {input.Target.Path} [{input.Label}] -> {response.Status}"));
                var key = response.Outcome == "ok" ? response.Status.ToString(System.Globalization.CultureInfo.InvariantCulture) : response.Outcome;
                statuses.AddOrUpdate(key, 1, (_, count) => count + 1);
                byEndpoint.AddOrUpdate($"{input.Target.Path} {(response.Status is >= 400 and < 500 ? "4xx" : key)}", 1, (_, count) => count + 1);
                foreach (var problem in Check(input, response))
                {
                    failures.Enqueue($"#{index} {input.Method} {input.Target.Path} [{input.Label}] -> {key}: {problem}; body: {Excerpt(response.Body)}");
                }
            });

            // The server must stay ready through the storm, not just at the end.
            (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.OK, "the server must stay ready after {0} hostile inputs", batch + 2_000);
        }

        output.WriteLine($"{Inputs} hostile inputs (seed {Seed}) in {clock.Elapsed.TotalSeconds:F1} s");
        output.WriteLine("by status: " + string.Join(", ", statuses.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key}: {pair.Value}")));
        foreach (var pair in byEndpoint.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {pair.Key}: {pair.Value}");
        }

        foreach (var (milliseconds, slow) in slowest.OrderByDescending(item => item.Milliseconds).Take(10))
        {
            output.WriteLine($"slow: {milliseconds:F0} ms {slow}");
        }

        foreach (var failure in failures.Take(40))
        {
            output.WriteLine("FAIL " + failure);
        }

        failures.Should().BeEmpty("every hostile input must get a clean refusal ({0} did not)", failures.Count);
        statuses.Keys.Should().NotContain(key => key.StartsWith('5') && key != "505", "only Kestrel's own 505 for a garbled request line is a 5xx");
    }

    /// <summary>
    /// Not random: malformed DPoP headers (RFC 9449) at the three endpoints that read one (token, PAR and, with the
    /// DPoP scheme, userinfo): broken encodings, hostile JSON (deep nesting, huge numbers, wrong types), an
    /// oversized proof, raw bytes, and many headers. Each must be a clean OAuth refusal, never a 5xx.
    /// </summary>
    [Fact]
    public async Task Every_malformed_DPoP_header_gets_a_clean_OAuth_refusal()
    {
        await using var server = await CustomServer.StartAsync();
        const string Secret = "fuzz-dpop-client-secret-0123456789abcdefgh";
        var clientId = await server.RegisterClientAsync(new OAuthServer.Admin.ClientRegistration
        {
            ClientId = "fuzz-dpop", Kind = OAuthServer.Admin.ClientKind.Confidential, Secret = Secret, AllowClientCredentials = true, Scopes = ["api"],
        });
        var (publicClient, redirectUri) = await server.CreatePublicClientAsync();
        string Segment(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));
        var jwk = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" + new string('A', 43) + "\",\"y\":\"" + new string('A', 43) + "\"}";
        var header = Segment("{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":" + jwk + "}");
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string[] proofs =
        [
            "", " ", ".", "..", "...", "a.b.c", "e30.e30.e30", "e30.e30.", ".e30.e30", "\u00e9t\u00e9", HostileRequestGenerator.Marker + ">",
            new string('e', 9_000) + ".e30.c2ln",
            Segment(new string('[', 5_000)) + ".e30.c2ln",
            Segment("{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":" + new string('{', 200) + "}") + ".e30.c2ln",
            Segment("{\"typ\":[\"dpop+jwt\"],\"alg\":{\"a\":1},\"jwk\":\"x\"}") + ".e30.c2ln",
            header + "." + Segment($"{{\"htm\":\"POST\",\"htu\":\"x\",\"iat\":1e400,\"jti\":\"a\"}}") + "." + Base64UrlEncoder.Encode(new byte[64]),
            header + "." + Segment($"{{\"htm\":1,\"htu\":null,\"iat\":-99999999999999999999,\"jti\":{{}}}}") + "." + Base64UrlEncoder.Encode(new byte[64]),
            // A point that is not on the curve (all-zero coordinates): an invalid-curve attack must not reach ECDSA.
            header + "." + Segment($"{{\"htm\":\"POST\",\"htu\":\"{server.Issuer}connect/token\",\"iat\":{now},\"jti\":\"x\"}}") + "." + Base64UrlEncoder.Encode(new byte[64]),
            Segment("{\"typ\":\"dpop+jwt\",\"alg\":\"RS256\",\"jwk\":{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}}") + ".e30." + Base64UrlEncoder.Encode(new byte[256]),
            Segment("{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"!!\",\"y\":\"??\"}}") + ".e30.c2ln",
        ];
        var targets = new (string Path, string Authorization, string Body)[]
        {
            ("/connect/token", "", $"grant_type=client_credentials&client_id={clientId}&client_secret={Secret}&scope=api"),
            ("/connect/par", "", $"client_id={publicClient}&response_type=code&redirect_uri={Uri.EscapeDataString(redirectUri)}&scope=openid&code_challenge={new string('a', 43)}&code_challenge_method=S256"),
            ("/connect/userinfo", "Authorization: DPoP " + new string('x', 40) + "\r\n", ""),
        };

        var failures = new List<string>();
        foreach (var (path, authorization, body) in targets)
        {
            foreach (var (label, headers) in proofs.Select((proof, index) => ($"proof #{index}", new[] { "DPoP: " + proof }))
                .Append(("two headers", ["DPoP: a.b.c", "DPoP: d.e.f"]))
                .Append(("forty headers", Enumerable.Range(0, 40).Select(index => $"DPoP: {index}.{index}.{index}").ToArray())))
            {
                var lines = headers.Select(line => Encoding.UTF8.GetBytes(line)).ToList();
                if (authorization.Length > 0)
                {
                    lines.Add(Encoding.ASCII.GetBytes(authorization.TrimEnd()));
                }

                lines.Add("Content-Type: application/x-www-form-urlencoded"u8.ToArray());
                var request = RawHttp.Request(Encoding.ASCII.GetBytes(path), "POST", server.Port, lines, Encoding.ASCII.GetBytes(body));
                var response = await RawHttp.SendAsync(server.Port, request, TimeSpan.FromSeconds(30));
                // Note: an OAuth error body, or (userinfo) a challenge naming the error, or Kestrel's own bare refusal.
                var clean = response.Outcome == "ok" && response.Status is >= 400 and < 500 && !StackTrace().IsMatch(response.Body)
                    && (response.Body.Contains("\"error\"", StringComparison.Ordinal) || response.Header("WWW-Authenticate")?.Contains("error=", StringComparison.Ordinal) == true || IsProtocolRefusal(response))
                    && !response.Body.Contains(HostileRequestGenerator.Marker, StringComparison.Ordinal);
                if (!clean)
                {
                    failures.Add($"{path} [{label}] -> {response.Outcome} {response.Status}: {Excerpt(response.Body)}");
                }
            }
        }

        failures.Should().BeEmpty();
        using var api = server.CreateApiClient();
        (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    /// <summary>The charsets a form may claim: OAuth forms are UTF-8 (RFC 6749 appendix B), anything else is refused.</summary>
    internal static readonly string[] FormContentTypes =
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded; charset=utf-7",
        "application/x-www-form-urlencoded; charset=\"UTF-7\"",
        "application/x-www-form-urlencoded; charset=utf-16",
        "application/x-www-form-urlencoded; charset=utf-16le",
        "application/x-www-form-urlencoded; charset=utf-32",
        "application/x-www-form-urlencoded; charset=x-fuzz-unknown",
        "application/x-www-form-urlencoded; charset=",
        "application/x-www-form-urlencoded; charset=utf-8; charset=utf-7",
        "application/x-www-form-urlencoded; charset=utf-7; charset=utf-8",
        "application/x-www-form-urlencoded; CHARSET=utf-7",
        "multipart/form-data; boundary=fuzz",
        "multipart/form-data; boundary=fuzz; charset=utf-7",
        "multipart/form-data; boundary=fuzz; charset=utf-16",
    ];

    /// <summary>
    /// Not random: every form endpoint, in every charset above, under every path spelling an attacker varies
    /// (trailing slash, doubled slash, case, percent-encoding), with a urlencoded, a multipart and a multipart
    /// body whose section claims UTF-7. None may be a 5xx or an unclean refusal.
    /// </summary>
    [Fact]
    public async Task Every_form_endpoint_survives_every_charset_path_spelling_and_multipart_body()
    {
        await using var server = await CustomServer.StartAsync(new()
        {
            ["Admin:BootstrapClientSecret"] = "fuzz-bootstrap-secret-0123456789abcdefghij",
            ["Admin:DynamicRegistrationEnabled"] = "true",
        });
        using var api = server.CreateApiClient();
        var inputs = new List<HostileInput>();
        foreach (var target in FuzzTarget.All.Where(target => target.Methods.Contains("POST")))
        {
            var form = string.Join('&', target.Parameters.Select(name => $"{name}={Uri.EscapeDataString(PlausibleValue(name))}"));
            foreach (var path in PathSpellings(target.Path))
            {
                foreach (var contentType in FormContentTypes)
                {
                    var multipart = contentType.StartsWith("multipart/", StringComparison.Ordinal);
                    var bodies = multipart
                        ? new[] { ("multipart", Multipart(target.Parameters, sectionCharset: null)), ("multipart-utf7-section", Multipart(target.Parameters, "utf-7")) }
                        : [("form", Encoding.UTF8.GetBytes(form)), ("form-utf16", Encoding.Unicode.GetBytes(form))];
                    foreach (var (kind, body) in bodies)
                    {
                        var bytes = RawHttp.Request("POST", path, server.Port, ["Content-Type: " + contentType], body);
                        inputs.Add(new HostileInput(target, "POST", $"{kind},{contentType}", bytes, Oversized: false) { Path = path });
                    }
                }
            }
        }

        var failures = new ConcurrentQueue<string>();
        await Parallel.ForEachAsync(inputs, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (input, _) =>
        {
            var response = await RawHttp.SendAsync(server.Port, input.Bytes, TimeSpan.FromSeconds(30));
            foreach (var problem in Check(input, response))
            {
                failures.Enqueue($"POST {input.Path} [{input.Label}] -> {response.Status}: {problem}; body: {Excerpt(response.Body)}");
            }
        });

        output.WriteLine($"{inputs.Count} charset, path and multipart variants");
        foreach (var failure in failures.Take(40))
        {
            output.WriteLine("FAIL " + failure);
        }

        failures.Should().BeEmpty("every variant must get a clean answer ({0} did not)", failures.Count);
        (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    /// <summary>
    /// Not random: every shape of broken client_assertion (RFC 7523 §2.2) an attacker can hand the JWT parser, at every
    /// endpoint that authenticates a client, for a private_key_jwt client, a public one, an unknown one and none. Each
    /// must be an OAuth error in JSON, never a 5xx; for the key client, invalid_client (RFC 7523 §3.1).
    /// </summary>
    [Fact]
    public async Task Malformed_client_assertions_get_an_OAuth_error_at_every_endpoint_that_authenticates_a_client()
    {
        await using var server = await CustomServer.StartAsync();
        var key = Conformance.ClientKey.Ec();
        var keyClient = await server.RegisterClientAsync(new OAuthServer.Admin.ClientRegistration
        {
            ClientId = "fuzz-keys",
            Kind = OAuthServer.Admin.ClientKind.Confidential,
            AllowClientCredentials = true,
            Scopes = ["api"],
            Jwks = JsonSerializer.Serialize(key.Jwks),
        });
        static string Segment(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var claims = Segment($"{{\"iss\":\"{keyClient}\",\"sub\":\"{keyClient}\",\"aud\":\"{server.Issuer.AbsoluteUri}\",\"exp\":{now + 60},\"jti\":\"j\"}}");
        var typed = Segment("{\"alg\":\"ES256\",\"typ\":\"client-authentication+jwt\",\"kid\":\"ec-1\"}");
        var assertions = new (string Label, string Value)[]
        {
            ("not a JWT", "not-a-jwt"),
            ("three empty parts", ".."),
            ("huge, under the form value limit", typed + "." + new string('A', 15_000) + ".c2ln"),
            ("huge, over the form value limit", typed + "." + new string('A', 20_000) + ".c2ln"),
            ("invalid base64url", "!!!.***.%%%"),
            ("padded base64", typed + "=." + claims + "==.c2ln="),
            ("header is a JSON array", Segment("[\"alg\",\"ES256\"]") + "." + claims + ".c2ln"),
            ("header is not JSON", Segment("alg=ES256") + "." + claims + ".c2ln"),
            ("header nested 2000 deep", Segment("{\"alg\":\"ES256\",\"x\":" + new string('[', 2000) + new string(']', 2000) + "}") + "." + claims + ".c2ln"),
            ("alg none", Segment("{\"alg\":\"none\",\"typ\":\"client-authentication+jwt\"}") + "." + claims + "."),
            ("alg none, capitalised", Segment("{\"alg\":\"NONE\",\"typ\":\"client-authentication+jwt\"}") + "." + claims + "."),
            ("JWE-looking, 5 parts", Segment("{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"cty\":\"JWT\"}") + ".a.b.c.d"),
            ("JWE-looking, 5 parts, dir", Segment("{\"alg\":\"dir\",\"enc\":\"A128CBC-HS256\"}") + "..AAAA.AAAA.AAAA"),
            ("six parts", typed + "." + claims + ".a.b.c.d"),
            ("non-ASCII", "\u00e9\u00e8.\u00fc\u00df.\U0001F642"),
            ("non-ASCII in a JSON header", Segment("{\"alg\":\"ES256\",\"typ\":\"client-authentication+jwt\",\"kid\":\"\u00e9\u0000\"}") + "." + claims + ".c2ln"),
            ("claims with the wrong types, signed by the client's key", Signed(key, keyClient, server.Issuer, new() { ["jti"] = new[] { "a", "b" }, ["exp"] = "soon", ["iat"] = 1e300 })),
            ("exp far beyond year 9999, signed by the client's key", Signed(key, keyClient, server.Issuer, new() { ["exp"] = 1e20, ["jti"] = "far" })),
            ("empty", string.Empty),
        };
        var endpoints = new (string Path, (string, string)[] Fields)[]
        {
            ("/connect/token", [("grant_type", "client_credentials"), ("scope", "api")]),
            ("/connect/introspect", [("token", "an-unknown-token")]),
            ("/connect/revoke", [("token", "an-unknown-token")]),
            ("/connect/par", [("response_type", "code"), ("redirect_uri", "http://127.0.0.1:8080/callback"), ("scope", "openid"), ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), ("code_challenge_method", "S256")]),
            ("/connect/device", [("scope", "api")]),
        };

        var failures = new ConcurrentQueue<string>();
        var requests = 0;
        foreach (var (path, fields) in endpoints)
        {
            foreach (var clientId in new[] { keyClient, "demo-spa", "no-such-client", null })
            {
                await Parallel.ForEachAsync(assertions, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (assertion, _) =>
                {
                    var form = fields.Append(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")).Append(("client_assertion", assertion.Value));
                    if (clientId is not null)
                    {
                        form = form.Append(("client_id", clientId));
                    }

                    var body = Encoding.ASCII.GetBytes(string.Join('&', form.Select(field => $"{field.Item1}={Uri.EscapeDataString(field.Item2)}")));
                    var target = FuzzTarget.All.First(candidate => candidate.Path == path);
                    var input = new HostileInput(target, "POST", assertion.Label, RawHttp.Request("POST", path, server.Port, ["Content-Type: application/x-www-form-urlencoded"], body), Oversized: false);
                    var response = await RawHttp.SendAsync(server.Port, input.Bytes, TimeSpan.FromSeconds(30));
                    Interlocked.Increment(ref requests);
                    var problems = Check(input, response).ToList();
                    var error = OAuthError(response);
                    // Note: an empty client_assertion is no assertion; a public client pushes its request without one.
                    if (error is null && !(assertion.Value.Length == 0 && clientId == "demo-spa" && target.Allowed.Contains(response.Status)))
                    {
                        problems.Add("not an OAuth JSON error");
                    }
                    else if (clientId == keyClient && assertion.Label != "huge, over the form value limit" && assertion.Label != "empty" && error != "invalid_client")
                    {
                        problems.Add($"error {error}, not invalid_client");
                    }

                    foreach (var problem in problems)
                    {
                        failures.Enqueue($"{path} client_id={clientId ?? "(none)"} [{assertion.Label}] -> {response.Status}: {problem}; body: {Excerpt(response.Body)}");
                    }
                });
            }
        }

        output.WriteLine($"{requests} malformed client assertions");
        foreach (var failure in failures.Take(40))
        {
            output.WriteLine("FAIL " + failure);
        }

        failures.Should().BeEmpty("every malformed client assertion must get a clean OAuth error ({0} did not)", failures.Count);
        using var api = server.CreateApiClient();
        (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.OK);
        // And the key client still authenticates: nothing above spent or broke it.
        using var token = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = keyClient,
            ["scope"] = "api",
            ["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ["client_assertion"] = key.Assertion(keyClient, server.Issuer),
        }));
        await token.ShouldSucceedAsync();
    }

    // An assertion signed by the client's real key whose claims are given as raw JSON values, whatever their type.
    private static string Signed(Conformance.ClientKey key, string clientId, Uri issuer, Dictionary<string, object> claims)
    {
        var all = new Dictionary<string, object> { ["iss"] = clientId, ["sub"] = clientId, ["aud"] = issuer.AbsoluteUri };
        foreach (var (name, value) in claims)
        {
            all[name] = value;
        }

        var header = Base64UrlEncoder.Encode(JsonSerializer.SerializeToUtf8Bytes(new { alg = "ES256", typ = "client-authentication+jwt", kid = key.Key.KeyId }));
        var payload = Base64UrlEncoder.Encode(JsonSerializer.SerializeToUtf8Bytes(all));
        var signature = Microsoft.IdentityModel.JsonWebTokens.JwtTokenUtilities.CreateEncodedSignature(header + "." + payload, new SigningCredentials(key.Key, key.Algorithm));
        return header + "." + payload + "." + signature;
    }

    // The error code of an OAuth JSON error body (RFC 6749 §5.2), or null when the answer is not one.
    private static string? OAuthError(RawResponse response)
    {
        if (response.Outcome != "ok" || response.Status is < 400 or >= 500
            || response.Header("Content-Type")?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) != true)
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(response.Body);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String
                ? error.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static IEnumerable<string> PathSpellings(string path) =>
    [
        path,
        path + "/",
        "/" + path,
        path.Replace("/", "//", StringComparison.Ordinal),
        path.ToUpperInvariant(),
        path[..^1] + "%" + Convert.ToHexString([(byte)path[^1]]),
        path.Replace("/", "%2F", StringComparison.Ordinal),
        path.Replace("/", "/./", StringComparison.Ordinal),
    ];

    private static string PlausibleValue(string name) => name switch
    {
        "client_id" => "demo-spa",
        "redirect_uri" => "http://127.0.0.1:8080/callback",
        "response_type" => "code",
        "grant_type" => "authorization_code",
        "code_challenge" => "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method" => "S256",
        "code_verifier" => "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "scope" => "openid",
        "email" => "demo@example.com",
        _ => "v",
    };

    private static byte[] Multipart(string[] names, string? sectionCharset)
    {
        var builder = new StringBuilder();
        foreach (var name in names)
        {
            builder.Append("--fuzz\r\nContent-Disposition: form-data; name=\"").Append(name).Append("\"\r\n");
            if (sectionCharset is not null)
            {
                builder.Append("Content-Type: text/plain; charset=").Append(sectionCharset).Append("\r\n");
            }

            builder.Append("\r\n").Append(PlausibleValue(name)).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(builder.Append("--fuzz--\r\n").ToString());
    }

    private static IEnumerable<string> Check(HostileInput input, RawResponse response)
    {
        if (response.Outcome != "ok")
        {
            // Note: a server may cut a client that is still uploading an oversized body once it has answered
            // 413; the unread answer is lost with the connection. Any other cut or hang is a failure.
            if (!(response.Outcome == "reset" && input.Oversized))
            {
                yield return "no answer (" + response.Outcome + ")";
            }

            yield break;
        }

        if (response.Status >= 500 && !(response.Status == 505 && IsProtocolRefusal(response)))
        {
            yield return "server error";
        }

        if (StackTrace().IsMatch(response.Body))
        {
            yield return "stack trace or exception name in the body";
        }

        if (response.Body.Contains(HostileRequestGenerator.Marker, StringComparison.OrdinalIgnoreCase))
        {
            yield return "the unescaped marker is reflected";
        }

        if (response.Headers.Any(header => header.Key.Contains("injected", StringComparison.OrdinalIgnoreCase)
            || header.Value.Contains("injected", StringComparison.OrdinalIgnoreCase) && header.Key.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase)))
        {
            yield return "a header was injected";
        }

        if (response.Header("Location") is { } location && location.Contains('<', StringComparison.Ordinal))
        {
            yield return "raw markup in Location";
        }

        // Note: RFC 7662 answers 200 for any token; a forged one must come back inactive.
        if (response.Status == 200 && response.Body.Contains("\"active\":true", StringComparison.Ordinal) && !input.CarriesRealAccessToken)
        {
            yield return "a forged token was introspected as active";
        }

        if (response.Status is >= 400 and < 500)
        {
            if (!IsCleanRefusal(input, response))
            {
                yield return "a 4xx without an OAuth error, ProblemDetails or error page";
            }
        }
        else if (response.Status < 500 && !input.Target.Allowed.Contains(response.Status))
        {
            yield return $"{response.Status} is not an answer this endpoint may give to hostile input";
        }
    }

    private static bool IsCleanRefusal(HostileInput input, RawResponse response)
    {
        // Kestrel refuses a malformed or oversized request itself, before any middleware runs: no body and none
        // of the application's security headers. That is a clean refusal of the protocol violation.
        if (IsProtocolRefusal(response))
        {
            return true;
        }

        if (input.Method == "HEAD")
        {
            return true;
        }

        // RFC 6750 §3: a bearer-token error is in WWW-Authenticate.
        if (response.Status is 401 or 403 && response.Header("WWW-Authenticate")?.Contains("error=", StringComparison.Ordinal) == true)
        {
            return true;
        }

        var contentType = response.Header("Content-Type") ?? string.Empty;
        if (contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase)
            || contentType.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using var json = JsonDocument.Parse(response.Body);
                return json.RootElement.ValueKind == JsonValueKind.Object
                    && (json.RootElement.TryGetProperty("error", out _) || json.RootElement.TryGetProperty("title", out _));
            }
            catch (JsonException)
            {
                return false;
            }
        }

        // Note: an error for a person rather than a program: OpenIddict's front-channel errors that can't go back
        // to a registered redirect URI ("error:invalid_request" lines, text/plain), the account pages' HTML, and
        // plain text for a client that accepts no JSON. text/plain is never rendered as markup (nosniff is set), and
        // the marker check above proves no HTML page reflects input unescaped.
        return response.Body.Length > 0
            && (contentType.StartsWith("text/plain", StringComparison.OrdinalIgnoreCase)
                || input.Target.Browser && contentType.StartsWith("text/html", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Kestrel refuses a malformed or oversized request itself, before any middleware runs: no body and none of
    /// the application's headers. 505 is among them: it is Kestrel's answer to a request line whose version
    /// token is garbage (a raw space or control byte in the target), a refusal of the message, not a fault.
    /// </summary>
    private static bool IsProtocolRefusal(RawResponse response) =>
        response.Header("X-Content-Type-Options") is null && response.Body.Length == 0
        && response.Status is 400 or 405 or 408 or 413 or 414 or 431 or 505;

    private static string Excerpt(string body) => body.Length > 300 ? body[..300] + "…" : body;

    [GeneratedRegex(@"\bat [\w.`<>]+\(|\.cs:line \d+|\b\w+Exception\b|\bSystem\.[A-Z]\w+\.[A-Z]")]
    private static partial Regex StackTrace();
}

/// <summary>An endpoint the fuzzer targets: its methods, its parameters, and the non-4xx answers it may give.</summary>
internal sealed record FuzzTarget(string Path, string[] Methods, string[] Parameters, int[] Allowed, bool Browser = false)
{
    /// <summary>
    /// Every endpoint. 2xx/3xx are allowed only where the protocol demands them for input that is bad but
    /// harmless: RFC 6749 §4.1.2.1 sends authorization errors to a registered redirect URI (302), RFC 7009
    /// answers 200 to the revocation of an unknown token, discovery and health ignore a query string.
    /// To fuzz a new endpoint (the admin API), add one line here.
    /// </summary>
    public static FuzzTarget[] All { get; } =
    [
        new("/connect/authorize", ["GET", "POST"], ["client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method", "nonce", "prompt", "request_uri", "response_mode", "max_age"], [302, 303], Browser: true),
        new("/connect/par", ["POST"], ["client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method", "client_secret", "request"], [201]),
        new("/connect/token", ["POST"], ["grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "refresh_token", "scope", "client_assertion", "client_assertion_type", "device_code"], []),
        new("/connect/device", ["POST"], ["client_id", "client_secret", "scope", "client_assertion", "client_assertion_type"], []),
        new("/connect/verify", ["GET", "POST"], ["user_code", "decision", "__RequestVerificationToken"], [200, 302, 303], Browser: true),
        new("/connect/token", ["POST"], ["grant_type", "client_id", "client_secret", "subject_token", "subject_token_type", "actor_token", "actor_token_type", "audience", "resource", "requested_token_type", "scope"], []),
        new("/connect/introspect", ["POST"], ["token", "token_type_hint", "client_id", "client_secret"], [200]),
        new("/connect/revoke", ["POST"], ["token", "token_type_hint", "client_id", "client_secret"], [200]),
        new("/connect/userinfo", ["GET", "POST"], ["access_token", "scope"], []),
        new("/connect/endsession", ["GET", "POST"], ["id_token_hint", "post_logout_redirect_uri", "state", "client_id", "confirm"], [200, 302, 303], Browser: true),
        new("/account/login", ["GET", "POST"], ["email", "password", "returnUrl", "__RequestVerificationToken"], [200, 302, 303], Browser: true),
        new("/account/logout", ["POST"], ["returnUrl", "__RequestVerificationToken"], [200, 302, 303], Browser: true),
        new("/account/consent", ["GET", "POST"], ["returnUrl", "decision", "__RequestVerificationToken", "client_id", "scope", "ticket"], [200, 302, 303], Browser: true),
        new("/account/forgot-password", ["GET", "POST"], ["email", "__RequestVerificationToken"], [200], Browser: true),
        new("/account/reset-password", ["GET", "POST"], ["token", "password", "confirmPassword", "__RequestVerificationToken"], [200], Browser: true),
        new("/.well-known/openid-configuration", ["GET"], ["x"], [200, 304]),
        new("/.well-known/oauth-authorization-server", ["GET"], ["x"], [200, 304]),
        new("/.well-known/jwks.json", ["GET"], ["x"], [200, 304]),
        new("/health/live", ["GET"], ["x"], [200]),
        new("/health/ready", ["GET"], ["x"], [200]),
        new("/", ["GET"], ["x"], [302]),
        new("/admin/clients", ["GET", "POST", "PUT", "DELETE"], ["client_id", "type", "redirect_uris", "grant_types", "scopes", "offset", "limit"], []),
        new("/admin/clients/demo-spa/secret", ["POST"], ["x"], []),
        new("/admin/users", ["GET", "POST"], ["email", "password"], []),
        new("/admin/audit", ["GET"], ["since", "after", "limit"], []),
        new("/admin/scopes", ["GET"], ["x"], []),
        new("/admin/scopes/api", ["GET", "PUT"], ["display_name", "description", "display_names", "descriptions"], []),
        new("/admin/openapi.json", ["GET"], ["x"], []),
        new("/connect/register", ["POST"], ["redirect_uris", "token_endpoint_auth_method", "grant_types", "scope", "client_name"], []),
    ];
}

internal sealed record TokenSeeds(string AccessToken, string RefreshToken, string IdToken, string Jwks);

internal sealed record HostileInput(FuzzTarget Target, string Method, string Label, byte[] Bytes, bool Oversized)
{
    public bool CarriesRealAccessToken { get; init; }

    /// <summary>The path as sent, when it is spelled otherwise than the target's.</summary>
    public string? Path { get; init; }
}

/// <summary>
/// Builds hostile request number <c>index</c> from a random generator seeded with the test seed and the index,
/// so each input is reproducible on its own and the inputs can be sent in parallel.
/// </summary>
internal sealed class HostileRequestGenerator(int seed, int port, TokenSeeds seeds)
{
    /// <summary>Appears in the markup payloads; must never come back unescaped.</summary>
    public const string Marker = "<x-fuzz-marker";

    private const string DemoClient = "demo-spa";
    private const string DemoRedirect = "http://127.0.0.1:8080/callback";
    private static readonly string[] WrongMethods = ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "HEAD", "FOO", "GET", "POST", "CONNECT"];
    private static readonly string[] ContentTypes =
    [
        "application/json", "text/plain", "multipart/form-data", "multipart/form-data; boundary=", "application/x-www-form-urlencoded; charset=ebcdic-fuzz",
        "application/xml", "application/x-www-form-urlencoded; boundary=\"", "*/*", "application/x-www-form-urlencoded, application/json", ";;;",
        .. HostileInputFuzzTests.FormContentTypes,
    ];

    private readonly string[] _jwts = ForgedJwts(seeds);

    public HostileInput Create(int index)
    {
        var random = new Random(unchecked((seed * 7_919) + index));
        var target = FuzzTarget.All[random.Next(FuzzTarget.All.Length)];
        var labels = new List<string>();
        var oversized = false;

        var method = random.NextDouble() < 0.8 ? target.Methods[random.Next(target.Methods.Length)] : Pick(random, WrongMethods);
        if (!target.Methods.Contains(method))
        {
            labels.Add("method");
        }

        var parameters = BaseParameters(target, random);
        var mutations = 1 + random.Next(3);
        for (var count = 0; count < mutations; count++)
        {
            labels.Add(Mutate(parameters, target, random, ref oversized));
        }

        var headers = new List<byte[]>();
        if (random.NextDouble() < 0.3)
        {
            labels.Add(AddHostileHeader(headers, target, random, ref oversized));
        }

        var path = target.Path;
        if (random.NextDouble() < 0.06)
        {
            labels.Add("path");
            path = MutatePath(path, random);
        }

        var encoded = Encode(parameters);
        byte[] requestTarget;
        byte[]? body = null;
        if (method is "GET" or "HEAD" or "DELETE" or "OPTIONS" or "TRACE" || random.NextDouble() < 0.05)
        {
            requestTarget = Concat(Encoding.ASCII.GetBytes(path + (encoded.Length > 0 ? "?" : string.Empty)), encoded);
        }
        else
        {
            requestTarget = Encoding.ASCII.GetBytes(path);
            var roll = random.NextDouble();
            if (roll < 0.65)
            {
                headers.Add("Content-Type: application/x-www-form-urlencoded"u8.ToArray());
                body = encoded;
            }
            else if (roll < 0.75)
            {
                labels.Add("json-as-form");
                headers.Add("Content-Type: application/x-www-form-urlencoded"u8.ToArray());
                body = Json(parameters);
            }
            else if (roll < 0.85)
            {
                labels.Add("json");
                headers.Add("Content-Type: application/json"u8.ToArray());
                body = Json(parameters);
            }
            else if (roll < 0.95)
            {
                var contentType = Pick(random, ContentTypes);
                labels.Add("content-type " + contentType);
                headers.Add(Encoding.Latin1.GetBytes("Content-Type: " + contentType));
                body = random.NextDouble() < 0.5 ? encoded : RandomBytes(random, random.Next(1, 512));
            }
            else
            {
                labels.Add("no-content-type");
                body = encoded;
            }
        }

        var bytes = RawHttp.Request(requestTarget, method, port, headers, body);
        return new HostileInput(target, method, string.Join(",", labels), bytes, oversized)
        {
            CarriesRealAccessToken = Encoding.Latin1.GetString(bytes).Contains(seeds.AccessToken, StringComparison.Ordinal),
        };
    }

    private List<KeyValuePair<string, byte[]>> BaseParameters(FuzzTarget target, Random random)
    {
        var values = new Dictionary<string, string>
        {
            ["client_id"] = random.NextDouble() < 0.7 ? DemoClient : "spa-unknown",
            ["redirect_uri"] = DemoRedirect,
            ["post_logout_redirect_uri"] = DemoRedirect,
            ["response_type"] = "code",
            ["scope"] = "openid offline_access api",
            ["state"] = "s" + random.Next(),
            ["code_challenge"] = Base64UrlEncoder.Encode(RandomBytes(random, 32)),
            ["code_challenge_method"] = "S256",
            ["grant_type"] = Pick(random, ["authorization_code", "refresh_token", "client_credentials", "password", "urn:ietf:params:oauth:grant-type:device_code", "implicit", "urn:ietf:params:oauth:grant-type:token-exchange"]),
            ["code"] = Base64UrlEncoder.Encode(RandomBytes(random, 32)),
            ["code_verifier"] = Base64UrlEncoder.Encode(RandomBytes(random, 32)),
            ["refresh_token"] = random.NextDouble() < 0.5 ? seeds.RefreshToken : Base64UrlEncoder.Encode(RandomBytes(random, 32)),
            ["token"] = random.NextDouble() < 0.5 ? seeds.AccessToken : Pick(random, _jwts),
            ["token_type_hint"] = Pick(random, ["access_token", "refresh_token", "id_token", "junk"]),
            ["id_token_hint"] = random.NextDouble() < 0.3 ? seeds.IdToken : Pick(random, _jwts),
            ["access_token"] = Pick(random, _jwts),
            ["client_assertion"] = Pick(random, _jwts),
            ["subject_token"] = random.NextDouble() < 0.5 ? seeds.AccessToken : Pick(random, [seeds.RefreshToken, seeds.IdToken, .. _jwts]),
            ["subject_token_type"] = Pick(random, ["urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:refresh_token", "urn:ietf:params:oauth:token-type:id_token", "urn:ietf:params:oauth:token-type:jwt", "junk"]),
            ["actor_token"] = Pick(random, [seeds.AccessToken, .. _jwts]),
            ["actor_token_type"] = Pick(random, ["urn:ietf:params:oauth:token-type:access_token", "junk"]),
            ["audience"] = Pick(random, ["api", "oauthserver", "https://x.example/", "", "a b"]),
            ["resource"] = Pick(random, ["https://api.example/", "api", "file:///etc/passwd", "https://x.example/#f"]),
            ["requested_token_type"] = Pick(random, ["urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:refresh_token", "junk"]),
            ["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ["email"] = "demo@example.com",
            ["password"] = "not-the-password",
            ["returnUrl"] = "/connect/authorize?client_id=" + DemoClient,
        };
        return target.Parameters
            .Where(_ => random.NextDouble() < 0.85)
            .Select(name => KeyValuePair.Create(name, Encoding.UTF8.GetBytes(Uri.EscapeDataString(values.GetValueOrDefault(name, "v" + random.Next())))))
            .ToList();
    }

    private string Mutate(List<KeyValuePair<string, byte[]>> parameters, FuzzTarget target, Random random, ref bool oversized)
    {
        var name = parameters.Count > 0 && random.NextDouble() < 0.8 ? parameters[random.Next(parameters.Count)].Key : Pick(random, target.Parameters);
        void Set(byte[] value)
        {
            parameters.RemoveAll(pair => pair.Key == name);
            parameters.Add(KeyValuePair.Create(name, value));
        }

        byte[] Escaped(string value) => Encoding.ASCII.GetBytes(Uri.EscapeDataString(value));

        switch (random.Next(14))
        {
            case 0:
                var copies = 2 + random.Next(4);
                for (var copy = 0; copy < copies; copy++)
                {
                    parameters.Add(KeyValuePair.Create(name, Escaped("dup" + copy)));
                }

                return "duplicate " + name;
            case 1:
                if (random.NextDouble() < 0.1)
                {
                    oversized = true;
                    Set(Encoding.ASCII.GetBytes(new string('A', 1024 * 1024)));
                    return "1MiB " + name;
                }

                Set(Encoding.ASCII.GetBytes(new string('A', random.Next(4_000, 70_000))));
                return "long " + name;
            case 2:
                Set(Encoding.ASCII.GetBytes(Pick(random, ["%C3%28", "%FF%FE", "%C0%AF", "%ED%A0%80", "%F8%88%80%80%80", "abc%E2%82"])));
                return "invalid-utf8 " + name;
            case 3:
                Set(Encoding.ASCII.GetBytes(Pick(random, ["%00", "a%00b", "%00%00%00", "demo-spa%00evil"])));
                return "nul " + name;
            case 4:
                Set(Escaped(Pick(random, ["x\r\nX-Injected: 1", "x\r\nSet-Cookie: injected=1", "/\r\nLocation: http://evil.example/", "x\nX-Injected: 1"])));
                return "crlf " + name;
            case 5:
                Set(Escaped(Pick(random, ["' OR '1'='1", "\"; DROP TABLE users; --", "1; SELECT pg_sleep(10)--", "') UNION SELECT * FROM \"OpenIddictTokens\"--", "%' AND 1=1--", "\\'; --"])));
                return "sql " + name;
            case 6:
                Set(Escaped(Pick(random, [Marker + " onerror=alert(1)>", "\">" + Marker + ">", "'><script>" + Marker + "></script>", "javascript:" + Marker + ">", "<svg/onload=" + Marker + ">"])));
                return "html " + name;
            case 7:
                Set(Escaped(Pick(random, _jwts)));
                return "jwt " + name;
            case 8:
                Set(RandomBytes(random, random.Next(1, 200)));
                return "raw-bytes " + name;
            case 9:
                parameters.RemoveAll(pair => pair.Key == name);
                return "missing " + name;
            case 10:
                parameters.Add(KeyValuePair.Create(Uri.EscapeDataString(Pick(random, [Marker + ">", "a\0b", "é", "[]", "__proto__", "client_id[]", new string('k', 300)])), Escaped("v")));
                return "odd-name";
            case 11:
                Set(Escaped(Pick(random, ["http://evil.example/callback", "//evil.example", "javascript:alert(1)", "http://127.0.0.1:8080/callback/../x", "data:text/html,x", "/\\evil.example", "http://127.0.0.1:8080/callback#frag"])));
                return "url " + name;
            case 12:
                Set(Escaped(Pick(random, ["", " ", "null", "true", "-1", "99999999999999999999", "[]", "{}", "plain", "S256 S256", "openid openid openid"])));
                return "odd-value " + name;
            default:
                for (var extra = 0; extra < random.Next(1, 80); extra++)
                {
                    parameters.Add(KeyValuePair.Create("p" + extra, Escaped("x")));
                }

                return "many-params";
        }
    }

    private string AddHostileHeader(List<byte[]> headers, FuzzTarget target, Random random, ref bool oversized)
    {
        switch (random.Next(9))
        {
            case 0:
                headers.Add(Encoding.ASCII.GetBytes("Authorization: Bearer " + Pick(random, _jwts)));
                return "bearer";
            case 1:
                headers.Add(Encoding.ASCII.GetBytes("Authorization: " + Pick(random, ["Basic !!!", "Basic " + Convert.ToBase64String("demo-spa:"u8), "Basic " + Convert.ToBase64String("a:b:c\0"u8), "Bearer", "Bearer  ", "Negotiate x", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(Marker + ">:x"))])));
                return "authorization";
            case 2:
                // Note: a bare CR or LF inside a header value: a parser that splits on it would see a second header.
                headers.Add(random.NextDouble() < 0.5 ? "X-Fuzz: a\rX-Injected: 1"u8.ToArray() : "X-Fuzz: a\nX-Injected: 1"u8.ToArray());
                return "bare-cr-lf-header";
            case 3:
                headers.Add(Concat("X-Fuzz: "u8.ToArray(), [0xFF, 0xFE, 0x00, 0xC3, 0x28]));
                return "raw-bytes-header";
            case 4:
                if (random.NextDouble() < 0.2)
                {
                    oversized = true;
                    headers.Add(Encoding.ASCII.GetBytes("X-Big: " + new string('b', 1024 * 1024)));
                    return "1MiB-header";
                }

                for (var count = 0; count < random.Next(10, 120); count++)
                {
                    headers.Add(Encoding.ASCII.GetBytes($"X-Many-{count}: x"));
                }

                return "many-headers";
            case 5:
                headers.Add(Encoding.ASCII.GetBytes("Cookie: " + Pick(random, [".AspNetCore.Antiforgery.x=" + new string('z', 3000), "a=b; a=c; " + Marker + ">=1", "\0=\0", ".AspNetCore.Cookies=forged"])));
                return "cookie";
            case 6:
                headers.Add(Encoding.ASCII.GetBytes("X-Forwarded-For: " + Pick(random, ["1.2.3.4, 5.6.7.8", "not-an-ip", "::1", "999.999.999.999", Marker + ">"])));
                headers.Add(Encoding.ASCII.GetBytes("X-Forwarded-Host: evil.example"));
                return "forwarded";
            case 7:
                headers.Add(Encoding.ASCII.GetBytes("Accept: " + Pick(random, ["text/html", "application/json", "*/*;q=x", "\"", "application/problem+json;;"])));
                headers.Add(Encoding.ASCII.GetBytes("Accept-Language: " + Pick(random, ["xx-XX", "*;q=2", "../../etc"])));
                return "accept";
            default:
                // Note: a conflicting or unparsable length (RFC 9112 §6.3: a request smuggling vector). Never a
                // plain over-long one: the server would rightly wait for the missing bytes until the body timeout.
                headers.Add(Encoding.ASCII.GetBytes("Content-Length: " + Pick(random, ["0", "-1", "abc", "5, 6", "99999999999999999999"])));
                return "conflicting-length";
        }
    }

    private static string MutatePath(string path, Random random) => random.Next(7) switch
    {
        0 => "/" + path,
        1 => path + "/",
        2 => path.ToUpperInvariant(),
        3 => path + "%00",
        4 => path + "/..%2f..%2fetc%2fpasswd",
        5 => path.Replace("/", "%2f", StringComparison.Ordinal),
        _ => path + "/" + new string('x', random.Next(100, 3000)),
    };

    private static byte[] Encode(List<KeyValuePair<string, byte[]>> parameters)
    {
        using var buffer = new MemoryStream();
        foreach (var (name, value) in parameters)
        {
            if (buffer.Length > 0)
            {
                buffer.WriteByte((byte)'&');
            }

            buffer.Write(Encoding.UTF8.GetBytes(name));
            buffer.WriteByte((byte)'=');
            buffer.Write(value);
        }

        return buffer.ToArray();
    }

    private static byte[] Json(List<KeyValuePair<string, byte[]>> parameters) =>
        JsonSerializer.SerializeToUtf8Bytes(parameters.GroupBy(pair => pair.Key).ToDictionary(group => group.Key, group => Uri.UnescapeDataString(Encoding.Latin1.GetString(group.First().Value))));

    /// <summary>Truncated, tampered, unsigned and key-confused JWTs built from a real access token.</summary>
    private static string[] ForgedJwts(TokenSeeds seeds)
    {
        var parts = seeds.AccessToken.Split('.');
        var header = JsonDocument.Parse(Base64UrlEncoder.Decode(parts[0])).RootElement;
        var kid = header.GetProperty("kid").GetString();
        var payload = parts[1];
        string Segment(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));
        var none = Segment("{\"alg\":\"none\",\"typ\":\"at+jwt\"}") + "." + payload + ".";
        // Note: the classic key-confusion attack signs with HMAC, using the server's public key as the secret.
        var hsHeader = Segment($"{{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"{kid}\"}}");
        var publicKey = JsonDocument.Parse(seeds.Jwks).RootElement.GetProperty("keys")[0].GetRawText();
        var hs = hsHeader + "." + payload + "." + Base64UrlEncoder.Encode(HMACSHA256.HashData(Encoding.UTF8.GetBytes(publicKey), Encoding.ASCII.GetBytes(hsHeader + "." + payload)));
        var flipped = parts[0] + "." + payload + "." + (parts[2][0] == 'A' ? 'B' : 'A') + parts[2][1..];
        var tamperedPayload = JsonDocument.Parse(Base64UrlEncoder.Decode(payload)).RootElement.GetRawText().Replace("\"sub\":\"", "\"sub\":\"0", StringComparison.Ordinal);
        return
        [
            seeds.AccessToken[..(seeds.AccessToken.Length / 2)],
            parts[0] + "." + payload,
            none,
            none + parts[2],
            hs,
            flipped,
            parts[0] + "." + Segment(tamperedPayload) + "." + parts[2],
            Segment("{\"alg\":\"RS256\",\"jku\":\"http://evil.example/jwks\",\"kid\":\"evil\"}") + "." + payload + "." + parts[2],
            Segment("{\"alg\":\"RS256\"}") + "." + Segment("{\"sub\":\"" + Marker + ">\"}") + ".c2ln",
            "a.b.c", "..", "eyJ.eyJ.", new string('e', 5000) + ".x.y",
            seeds.IdToken,
        ];
    }

    private static T Pick<T>(Random random, T[] values) => values[random.Next(values.Length)];

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(part => part).ToArray();
}
