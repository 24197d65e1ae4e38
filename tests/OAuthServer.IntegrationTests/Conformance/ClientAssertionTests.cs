using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Duende.IdentityModel;
using Duende.IdentityModel.Client;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>A server with the admin API, dynamic registration and a short jwks_uri timeout, for one test class.</summary>
public sealed class AssertionServer : IAsyncLifetime
{
    public const string BootstrapSecret = "assertion-bootstrap-secret-0123456789abcdef";

    public CustomServer Node { get; private set; } = null!;

    public async Task InitializeAsync() => Node = await CustomServer.StartAsync(new()
    {
        ["Admin:BootstrapClientSecret"] = BootstrapSecret,
        ["Admin:DynamicRegistrationEnabled"] = "true",
        ["ClientAssertions:JwksUriTimeout"] = "00:00:02",
        ["ClientAssertions:JwksUriMaxBytes"] = "16384",
    });

    public async Task DisposeAsync() => await Node.DisposeAsync();

    public async Task<HttpClient> AdminAsync()
    {
        using var api = Node.CreateApiClient();
        var token = await api.ClientCredentialsTokenAsync("admin-cli", BootstrapSecret, "oauth.admin", waitForClient: true);
        var admin = Node.CreateApiClient();
        admin.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return admin;
    }
}

/// <summary>A client's signing key, and the assertions it makes (RFC 7523 §3, draft-ietf-oauth-rfc7523bis).</summary>
public sealed class ClientKey
{
    private ClientKey(SecurityKey key, string algorithm, JsonElement publicJwk)
    {
        Key = key;
        Algorithm = algorithm;
        PublicJwk = publicJwk;
    }

    public SecurityKey Key { get; }

    public string Algorithm { get; }

    public JsonElement PublicJwk { get; }

    public object Jwks => new { keys = new[] { PublicJwk } };

    public static ClientKey Ec(string kid = "ec-1")
    {
        var key = new ECDsaSecurityKey(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = kid };
        return new(key, SecurityAlgorithms.EcdsaSha256, Public(key));
    }

    public static ClientKey Rsa(string kid = "rsa-1")
    {
        var key = new RsaSecurityKey(RSA.Create(2048)) { KeyId = kid };
        return new(key, SecurityAlgorithms.RsaSsaPssSha256, Public(key));
    }

    private static JsonElement Public(SecurityKey key)
    {
        var jwk = JsonWebKeyConverter.ConvertFromSecurityKey(key);
        var members = new Dictionary<string, string> { ["kty"] = jwk.Kty, ["kid"] = jwk.Kid };
        foreach (var (name, value) in new[] { ("n", jwk.N), ("e", jwk.E), ("crv", jwk.Crv), ("x", jwk.X), ("y", jwk.Y) })
        {
            if (value is not null)
            {
                members[name] = value;
            }
        }

        return JsonSerializer.SerializeToElement(members);
    }

    public string Assertion(string clientId, Uri audience, TimeSpan? lifetime = null, string? jti = null, string? issuer = null,
        string? subject = null, DateTime? issuedAt = null, string type = "client-authentication+jwt")
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? clientId,
            Audience = audience.AbsoluteUri,
            IssuedAt = issuedAt ?? now,
            Expires = now + (lifetime ?? TimeSpan.FromMinutes(1)),
            TokenType = type,
            Claims = new Dictionary<string, object> { ["sub"] = subject ?? clientId, ["jti"] = jti ?? Guid.NewGuid().ToString("N") },
            SigningCredentials = new SigningCredentials(Key, Algorithm),
        });
    }
}

/// <summary>
/// private_key_jwt (RFC 7523, OIDC Core §9) over HTTP: registration of keys by the admin API and RFC 7591, a standard
/// client library (Duende.IdentityModel) authenticating with an assertion, and every way an assertion is refused.
/// </summary>
public sealed class ClientAssertionTests(AssertionServer server) : IClassFixture<AssertionServer>
{
    private Uri Issuer => server.Node.Issuer;

    private async Task<string> MachineClientAsync(ClientKey key)
    {
        using var admin = await server.AdminAsync();
        using var created = await admin.PostAsJsonAsync("/admin/clients", new
        {
            type = "confidential",
            grant_types = new[] { "client_credentials" },
            scopes = new[] { "api" },
            token_endpoint_auth_method = "private_key_jwt",
            jwks = key.Jwks,
        });
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        created.StatusCode.Should().Be(HttpStatusCode.Created, body.ToString());
        body.GetProperty("client_secret").ValueKind.Should().Be(JsonValueKind.Null, "a private_key_jwt client has no secret");
        return body.GetProperty("client_id").GetString()!;
    }

    private static Task<HttpResponseMessage> TokenAsync(HttpClient api, string clientId, string assertion, string? secret = null)
    {
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = clientId,
            ["scope"] = "api",
            ["client_assertion_type"] = OidcConstants.ClientAssertionTypes.JwtBearer,
            ["client_assertion"] = assertion,
        };
        if (secret is not null)
        {
            form.Remove("client_assertion_type");
            form.Remove("client_assertion");
            form["client_secret"] = secret;
        }

        return api.PostAsync("/connect/token", new FormUrlEncodedContent(form));
    }

    private static async Task ShouldBeInvalidClientAsync(HttpResponseMessage response, string because)
    {
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "{0}; the body was {1}", because, body);
        JsonDocument.Parse(body).RootElement.GetProperty("error").GetString().Should().Be("invalid_client", because);
    }

    [Fact]
    public async Task A_client_registered_with_inline_keys_gets_tokens_with_a_standard_library_assertion_and_its_view_shows_the_keys()
    {
        foreach (var key in new[] { ClientKey.Ec(), ClientKey.Rsa() })
        {
            var clientId = await MachineClientAsync(key);
            using var api = server.Node.CreateApiClient();
            var response = await api.RequestClientCredentialsTokenAsync(new ClientCredentialsTokenRequest
            {
                Address = new Uri(Issuer, "connect/token").AbsoluteUri,
                ClientId = clientId,
                Scope = "api",
                ClientCredentialStyle = ClientCredentialStyle.PostBody,
                ClientAssertion = new ClientAssertion { Type = OidcConstants.ClientAssertionTypes.JwtBearer, Value = key.Assertion(clientId, Issuer) },
            });
            response.IsError.Should().BeFalse(response.Raw);
            response.AccessToken.Should().NotBeNullOrEmpty();

            // Introspection authenticates with an assertion too (a new one: each is single-use).
            using var introspected = await api.PostAsync("/connect/introspect", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["client_id"] = clientId,
                ["client_assertion_type"] = OidcConstants.ClientAssertionTypes.JwtBearer,
                ["client_assertion"] = key.Assertion(clientId, Issuer),
                ["token"] = response.AccessToken!,
            }));
            (await introspected.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("active").GetBoolean().Should().BeTrue();

            using var admin = await server.AdminAsync();
            var view = await admin.GetFromJsonAsync<JsonElement>($"/admin/clients/{clientId}");
            view.GetProperty("token_endpoint_auth_method").GetString().Should().Be("private_key_jwt");
            view.GetProperty("jwks").GetProperty("keys")[0].GetProperty("kid").GetString().Should().Be(key.Key.KeyId);
            view.ToString().Should().NotContain("client_secret");
        }
    }

    [Fact]
    public async Task Discovery_advertises_private_key_jwt_with_asymmetric_algorithms_only()
    {
        using var api = server.Node.CreateApiClient();
        var discovery = await api.GetFromJsonAsync<JsonElement>("/.well-known/openid-configuration");
        foreach (var endpoint in new[] { "token", "introspection", "revocation" })
        {
            discovery.GetProperty($"{endpoint}_endpoint_auth_methods_supported").EnumerateArray().Select(item => item.GetString()).Should().Contain("private_key_jwt");
            var algorithms = discovery.GetProperty($"{endpoint}_endpoint_auth_signing_alg_values_supported").EnumerateArray().Select(item => item.GetString()!).ToList();
            algorithms.Should().Contain(["RS256", "PS256", "ES256"]);
            algorithms.Should().NotContain(algorithm => algorithm == "none" || algorithm.StartsWith("HS", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Every_kind_of_bad_assertion_is_refused_as_invalid_client()
    {
        var key = ClientKey.Ec();
        var clientId = await MachineClientAsync(key);
        var stranger = ClientKey.Ec(kid: key.Key.KeyId!);
        var tokenEndpoint = new Uri(Issuer, "connect/token");
        using var api = server.Node.CreateApiClient();
        var cases = new (string Because, string Assertion)[]
        {
            ("signed by another key with the same kid", stranger.Assertion(clientId, Issuer)),
            ("expired", key.Assertion(clientId, Issuer, lifetime: TimeSpan.FromMinutes(-2))),
            ("exp too far ahead", key.Assertion(clientId, Issuer, lifetime: TimeSpan.FromMinutes(30))),
            ("aud is the token endpoint, not the issuer (rfc7523bis)", key.Assertion(clientId, tokenEndpoint)),
            ("aud is another server", key.Assertion(clientId, new Uri("https://elsewhere.example/"))),
            ("iss is not the client", key.Assertion(clientId, Issuer, issuer: "someone-else")),
            ("sub is not the client", key.Assertion(clientId, Issuer, subject: "someone-else")),
            ("issued in the future", key.Assertion(clientId, Issuer, issuedAt: DateTime.UtcNow.AddMinutes(3))),
            ("typ is not client-authentication+jwt", key.Assertion(clientId, Issuer, type: "JWT")),
            ("alg none", Unsigned(clientId)),
            ("HS256 with the public key as the secret (key confusion)", KeyConfusion(clientId, key)),
            ("not a JWT", "not-a-jwt"),
        };

        foreach (var (because, assertion) in cases)
        {
            await ShouldBeInvalidClientAsync(await TokenAsync(api, clientId, assertion), because);
        }

        // A secret presented for a private_key_jwt client is refused like a wrong one.
        await ShouldBeInvalidClientAsync(await TokenAsync(api, clientId, string.Empty, secret: "a-secret-that-this-client-never-had-0123456789"), "a private_key_jwt client has no secret");
        // And the good assertion still works afterwards.
        await (await TokenAsync(api, clientId, key.Assertion(clientId, Issuer))).ShouldSucceedAsync();
    }

    private string Unsigned(string clientId)
    {
        static string Part(object value) => Base64UrlEncoder.Encode(JsonSerializer.SerializeToUtf8Bytes(value));
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return $"{Part(new { alg = "none", typ = "client-authentication+jwt" })}.{Part(new { iss = clientId, sub = clientId, aud = Issuer.AbsoluteUri, exp = now + 60, jti = Guid.NewGuid().ToString() })}.";
    }

    private string KeyConfusion(string clientId, ClientKey key)
    {
        var secret = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key.PublicJwk.GetRawText())) { KeyId = key.Key.KeyId };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = clientId,
            Audience = Issuer.AbsoluteUri,
            Expires = DateTime.UtcNow.AddMinutes(1),
            TokenType = "client-authentication+jwt",
            Claims = new Dictionary<string, object> { ["sub"] = clientId, ["jti"] = Guid.NewGuid().ToString("N") },
            SigningCredentials = new SigningCredentials(secret, SecurityAlgorithms.HmacSha256),
        });
    }

    [Fact]
    public async Task An_assertion_is_single_use_even_when_replayed_in_parallel()
    {
        var key = ClientKey.Ec();
        var clientId = await MachineClientAsync(key);
        using var api = server.Node.CreateApiClient();
        var assertion = key.Assertion(clientId, Issuer);
        await (await TokenAsync(api, clientId, assertion)).ShouldSucceedAsync();
        await ShouldBeInvalidClientAsync(await TokenAsync(api, clientId, assertion), "an assertion is single-use");

        // N parallel requests carrying one fresh assertion: exactly one is served.
        var fresh = key.Assertion(clientId, Issuer);
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => TokenAsync(api, clientId, fresh)));
        responses.Count(response => response.StatusCode == HttpStatusCode.OK).Should().Be(1);
        responses.Count(response => response.StatusCode == HttpStatusCode.Unauthorized).Should().Be(7);
    }

    [Fact]
    public async Task Keys_with_private_parts_or_too_weak_are_refused_at_registration()
    {
        using var admin = await server.AdminAsync();
        var rsa = RSA.Create(2048);
        var privateJwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(rsa.ExportParameters(includePrivateParameters: true)) { KeyId = "k" });
        var weak = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(RSA.Create(1024).ExportParameters(false)) { KeyId = "weak" });
        var ec = ClientKey.Ec().PublicJwk;
        var cases = new (string Because, object Jwks)[]
        {
            ("a private RSA key", new { keys = new[] { new { kty = "RSA", kid = "k", n = privateJwk.N, e = privateJwk.E, d = privateJwk.D, p = privateJwk.P, q = privateJwk.Q } } }),
            ("a symmetric key", new { keys = new[] { new { kty = "oct", kid = "s", k = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32)) } } }),
            ("an RSA key of 1024 bits", new { keys = new[] { new { kty = "RSA", kid = "weak", n = weak.N, e = weak.E } } }),
            ("two keys with one kid", new { keys = new[] { ec, ec } }),
            ("no keys", new { keys = Array.Empty<object>() }),
        };

        foreach (var (because, jwks) in cases)
        {
            using var response = await admin.PostAsJsonAsync("/admin/clients", new
            {
                type = "confidential",
                grant_types = new[] { "client_credentials" },
                token_endpoint_auth_method = "private_key_jwt",
                jwks,
            });
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest, "{0} must be refused; the body was {1}", because, body);
            body.Should().Contain("jwks");
            body.Should().NotContain(privateJwk.D!, "a refused private key is not echoed");
        }
    }

    [Fact]
    public async Task A_client_registered_by_RFC_7591_with_a_jwks_uri_signs_in_with_the_code_flow()
    {
        var key = ClientKey.Rsa(kid: "served-1");
        await using var jwks = await JwksEndpoint.StartAsync(_ => JsonSerializer.Serialize(key.Jwks));
        using var admin = await server.AdminAsync();
        using var created = await admin.PostAsJsonAsync("/admin/clients", new { type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "oauth.register" } });
        var registrar = await created.Content.ReadFromJsonAsync<JsonElement>();
        using var api = server.Node.CreateApiClient();
        var initialToken = await api.ClientCredentialsTokenAsync(registrar.GetProperty("client_id").GetString()!, registrar.GetProperty("client_secret").GetString()!, "oauth.register");
        using var registrarApi = server.Node.CreateApiClient();
        registrarApi.DefaultRequestHeaders.Authorization = new("Bearer", initialToken);
        const string redirectUri = "http://127.0.0.1:8125/callback";
        using var registered = await registrarApi.PostAsJsonAsync("/connect/register", new
        {
            redirect_uris = new[] { redirectUri },
            token_endpoint_auth_method = "private_key_jwt",
            jwks_uri = jwks.Uri.AbsoluteUri,
            scope = "openid",
        });
        var registration = await registered.Content.ReadFromJsonAsync<JsonElement>();
        registered.StatusCode.Should().Be(HttpStatusCode.Created, registration.ToString());
        registration.GetProperty("client_secret").ValueKind.Should().Be(JsonValueKind.Null);
        registration.GetProperty("jwks_uri").GetString().Should().Be(jwks.Uri.AbsoluteUri);
        var clientId = registration.GetProperty("client_id").GetString()!;

        var email = await server.Node.CreateUserAsync();
        var pkce = Pkce.Create();
        var flow = new BrowserFlow(server.Node);
        var consentPage = await flow.SignInAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce, "openid")), email, TestData.Password);
        consentPage.StatusCode.Should().Be(HttpStatusCode.OK, "a registered client is a third party: the user consents");
        var fields = BrowserFlow.HiddenFields(await consentPage.Content.ReadAsStringAsync());
        fields["decision"] = "accept";
        var afterConsent = await flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(fields));
        var consented = await flow.FollowAsync(afterConsent.Headers.Location!.ToString());
        var code = BrowserFlow.Query(consented.Headers.Location!).GetValueOrDefault("code");
        code.Should().NotBeNull("the user signed in: {0}", consented.Headers.Location);

        var tokens = await api.RequestAuthorizationCodeTokenAsync(new AuthorizationCodeTokenRequest
        {
            Address = new Uri(Issuer, "connect/token").AbsoluteUri,
            ClientId = clientId,
            Code = code!,
            RedirectUri = redirectUri,
            CodeVerifier = pkce.Verifier,
            ClientCredentialStyle = ClientCredentialStyle.PostBody,
            ClientAssertion = new ClientAssertion { Type = OidcConstants.ClientAssertionTypes.JwtBearer, Value = key.Assertion(clientId, Issuer) },
        });
        tokens.IsError.Should().BeFalse(tokens.Raw);
        tokens.IdentityToken.Should().NotBeNullOrEmpty();
        jwks.Requests.Should().Be(1, "the keys are cached");
    }

    [Fact]
    public async Task A_jwks_uri_that_is_huge_slow_redirects_or_fails_gives_a_clean_invalid_client()
    {
        var key = ClientKey.Ec(kid: "bad-uri");
        var huge = JsonSerializer.Serialize(new { keys = new[] { key.PublicJwk }, padding = new string('x', 64 * 1024) });
        foreach (var (because, respond) in new (string, Func<HttpListenerResponse, string?>)[]
        {
            ("a response larger than the limit", _ => huge),
            ("a response slower than the timeout", _ => { Thread.Sleep(TimeSpan.FromSeconds(4)); return JsonSerializer.Serialize(key.Jwks); }),
            ("a redirect", response => { response.StatusCode = 302; response.RedirectLocation = "http://169.254.169.254/latest/meta-data/"; return string.Empty; }),
            ("an error", response => { response.StatusCode = 500; return string.Empty; }),
            ("not a JWKS", _ => "<html>hello</html>"),
        })
        {
            await using var endpoint = await JwksEndpoint.StartAsync(respond);
            var clientId = await server.Node.RegisterClientAsync(new OAuthServer.Admin.ClientRegistration
            {
                ClientId = "uri-" + Guid.NewGuid().ToString("N")[..12],
                Kind = OAuthServer.Admin.ClientKind.Confidential,
                AllowClientCredentials = true,
                JwksUri = endpoint.Uri.AbsoluteUri,
            });
            using var api = server.Node.CreateApiClient();
            var started = DateTime.UtcNow;
            await ShouldBeInvalidClientAsync(await TokenAsync(api, clientId, key.Assertion(clientId, Issuer)), because);
            (DateTime.UtcNow - started).Should().BeLessThan(TimeSpan.FromSeconds(4), "the fetch is bounded by its timeout ({0})", because);
        }
    }

    [Fact]
    public async Task An_unknown_kid_refetches_the_jwks_uri_at_most_once_per_interval()
    {
        var first = ClientKey.Ec(kid: "first");
        var second = ClientKey.Ec(kid: "second");
        var serving = first;
        await using var endpoint = await JwksEndpoint.StartAsync(_ => JsonSerializer.Serialize(serving.Jwks));
        var clientId = await server.Node.RegisterClientAsync(new OAuthServer.Admin.ClientRegistration
        {
            ClientId = "rotating-" + Guid.NewGuid().ToString("N")[..12],
            Kind = OAuthServer.Admin.ClientKind.Confidential,
            AllowClientCredentials = true,
            Scopes = ["api"],
            JwksUri = endpoint.Uri.AbsoluteUri,
        });
        using var api = server.Node.CreateApiClient();
        await (await TokenAsync(api, clientId, first.Assertion(clientId, Issuer))).ShouldSucceedAsync();

        // The client rotates to a key the server has not seen: within the refetch floor, unknown kids don't hammer the URI.
        serving = second;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            await ShouldBeInvalidClientAsync(await TokenAsync(api, clientId, ClientKey.Ec(kid: "unknown-" + attempt).Assertion(clientId, Issuer)), "an unknown kid");
        }

        endpoint.Requests.Should().BeLessThanOrEqualTo(2, "one fetch, and at most one refetch for an unknown kid per interval");
    }
}

/// <summary>A local endpoint that serves a JWKS (or misbehaves), counting its requests.</summary>
public sealed class JwksEndpoint : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<HttpListenerResponse, string?> _respond;
    private readonly Task _loop;
    private int _requests;

    private JwksEndpoint(Func<HttpListenerResponse, string?> respond)
    {
        _respond = respond;
        var port = TestPorts.Free();
        Uri = new Uri($"http://127.0.0.1:{port}/jwks");
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public Uri Uri { get; }

    public int Requests => Volatile.Read(ref _requests);

    public static Task<JwksEndpoint> StartAsync(Func<HttpListenerResponse, string?> respond) => Task.FromResult(new JwksEndpoint(respond));

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception exception) when (exception is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            Interlocked.Increment(ref _requests);
            _ = Task.Run(() =>
            {
                try
                {
                    var body = _respond(context.Response) ?? string.Empty;
                    var bytes = Encoding.UTF8.GetBytes(body);
                    context.Response.ContentType = "application/json";
                    context.Response.OutputStream.Write(bytes);
                    context.Response.Close();
                }
                catch (Exception exception) when (exception is HttpListenerException or ObjectDisposedException or InvalidOperationException or IOException)
                {
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
