using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.IntegrationTests.Infrastructure;
using OpenIddict.Abstractions;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// Attacks on the protocol layer, each performed over HTTP as an attacker or a careless client would: weak PKCE,
/// a forged or foreign id_token_hint at logout, a machine token at userinfo, and the shape of what the server
/// issues and advertises (aud in every access token, no unusable client authentication method).
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class ProtocolHardeningTests(OAuthServerFactory server)
{
    // ---- PKCE strength (RFC 7636 §4.1, §4.2; threat model 2.2) ----

    [Theory]
    [InlineData("a")] // the attack: a one-character challenge
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // 42 characters
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // 44 characters
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+")] // 43, but '+' is not base64url
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")] // 43 with padding
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.")] // 43 with an unreserved but non-base64url character
    public async Task A_code_challenge_that_is_not_an_S256_hash_is_refused_at_authorize(string challenge)
    {
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["code_challenge"] = challenge;

        var response = await new BrowserFlow(server).FollowAsync(BrowserFlow.AuthorizeUrl(parameters));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Headers.Location.Should().BeNull("the user is never sent to sign in, and nothing goes to the client");
        (await response.Content.ReadAsStringAsync()).Should().Contain("invalid_request").And.Contain("code_challenge");
    }

    [Fact]
    public async Task A_short_code_challenge_is_refused_at_PAR_and_a_proper_one_accepted()
    {
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        using var api = server.CreateApiClient();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());

        using var accepted = await api.PostAsync("/connect/par", Form(parameters));
        accepted.StatusCode.Should().Be(HttpStatusCode.Created, await accepted.Content.ReadAsStringAsync());

        parameters["code_challenge"] = "short";
        using var refused = await api.PostAsync("/connect/par", Form(parameters));
        await refused.ShouldFailWithAsync("invalid_request");
    }

    [Theory]
    [InlineData(1, "a")] // the attack: code_verifier=a, with a well-formed challenge made from it
    [InlineData(42, "a")]
    [InlineData(129, "a")]
    [InlineData(43, " ")] // a character outside the unreserved set
    [InlineData(43, "+")]
    [InlineData(43, "é")]
    public async Task A_weak_or_malformed_code_verifier_is_refused_even_when_it_matches_its_challenge(int length, string filler)
    {
        var verifier = new string('v', length - 1) + filler;
        var (flow, clientId, redirectUri) = await SignedInBrowserAsync();
        var code = await CodeAsync(flow, clientId, redirectUri, S256(verifier));
        using var api = server.CreateApiClient();

        using var response = await api.RedeemCodeAsync(clientId, redirectUri, code, verifier);

        await response.ShouldFailWithAsync("invalid_request");
    }

    [Theory]
    [InlineData(43)]
    [InlineData(128)]
    public async Task Verifiers_of_the_boundary_lengths_with_every_unreserved_character_work(int length)
    {
        const string Unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
        var verifier = string.Concat(Enumerable.Range(0, length).Select(index => Unreserved[index % Unreserved.Length]));
        var (flow, clientId, redirectUri) = await SignedInBrowserAsync();
        var code = await CodeAsync(flow, clientId, redirectUri, S256(verifier));
        using var api = server.CreateApiClient();

        await (await api.RedeemCodeAsync(clientId, redirectUri, code, verifier)).ShouldSucceedAsync();
    }

    // ---- aud in every access token (RFC 9068 §2.2) ----

    [Fact]
    public async Task An_openid_offline_access_token_has_the_issuer_as_audience_and_passes_a_strict_resource_server_check()
    {
        var signedIn = await SignedIn.StartAsync(server, scope: "openid offline_access email");
        using var api = server.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(api);
        var refreshed = await (await api.RefreshAsync(signedIn.ClientId, tokens.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();

        foreach (var accessToken in new[] { tokens.GetProperty("access_token").GetString()!, refreshed.GetProperty("access_token").GetString()! })
        {
            var result = await StrictlyValidateAsync(api, accessToken, server.Issuer.ToString());
            result.IsValid.Should().BeTrue(result.Exception?.Message);
            ((JsonWebToken)result.SecurityToken).Audiences.Should().Equal(server.Issuer.ToString());
            (await StrictlyValidateAsync(api, accessToken, "api")).IsValid.Should().BeFalse("a userinfo-only token is not for a resource server");

            // The token still does its one job.
            using var userinfo = new HttpRequestMessage(HttpMethod.Get, "/connect/userinfo");
            userinfo.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
            using var answer = await api.SendAsync(userinfo);
            answer.StatusCode.Should().Be(HttpStatusCode.OK, await answer.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task A_token_for_an_API_scope_names_the_API_only()
    {
        var signedIn = await SignedIn.StartAsync(server, scope: "openid api");
        using var api = server.CreateApiClient();
        var accessToken = (await signedIn.RedeemAsync(api)).GetProperty("access_token").GetString()!;

        new JsonWebToken(accessToken).Audiences.Should().Equal("api");
    }

    // ---- userinfo answers for users only ----

    [Fact]
    public async Task A_client_credentials_token_never_reaches_a_user_at_userinfo_even_when_the_client_id_is_that_users_id()
    {
        // A client named like a user: registered before client ids of that form were refused, so it is put in
        // the store directly. Its client_credentials token carries sub = client_id = the user's id.
        var email = await server.CreateUserAsync();
        var userId = (await server.ReadUserAsync(email)).Id.ToString();
        const string Secret = "collision-client-secret-0123456789abcdef";
        await server.WithScopeAsync(async services =>
            await services.GetRequiredService<IOpenIddictApplicationManager>().CreateAsync(new OpenIddictApplicationDescriptor
            {
                ClientId = userId,
                ClientSecret = Secret,
                ClientType = OpenIddictConstants.ClientTypes.Confidential,
                Permissions =
                {
                    OpenIddictConstants.Permissions.Endpoints.Token,
                    OpenIddictConstants.Permissions.GrantTypes.ClientCredentials,
                    OpenIddictConstants.Permissions.Prefixes.Scope + "email",
                    OpenIddictConstants.Permissions.Prefixes.Scope + "openid",
                },
            }));
        using var api = server.CreateApiClient();
        var token = await api.ClientCredentialsTokenAsync(userId, Secret, "openid email");
        new JsonWebToken(token).Subject.Should().Be(userId, "the collision is real: the machine token's sub is the user's id");

        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post })
        {
            using var userinfo = new HttpRequestMessage(method, "/connect/userinfo");
            userinfo.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (method == HttpMethod.Post)
            {
                userinfo.Content = new FormUrlEncodedContent([]);
            }

            using var response = await api.SendAsync(userinfo);
            var body = await response.Content.ReadAsStringAsync();

            response.StatusCode.Should().Be(HttpStatusCode.Unauthorized, body);
            response.Headers.WwwAuthenticate.ToString().Should().Contain("invalid_token");
            body.Should().NotContain(email);
        }
    }

    // ---- RP-initiated logout: only a valid hint for the signed-in user skips the confirmation ----

    [Fact]
    public async Task End_session_asks_for_confirmation_unless_the_hint_is_a_valid_id_token_of_the_signed_in_user()
    {
        var signedIn = await SignedIn.StartAsync(server);
        var (flow, clientId, redirectUri) = (signedIn.Flow!, signedIn.ClientId, signedIn.RedirectUri);
        using var api = server.CreateApiClient();
        var ownIdToken = (await signedIn.RedeemAsync(api)).GetProperty("id_token").GetString()!;

        // Another user's genuine id_token for the same client, and a token in our format signed by another key.
        var other = await SignedIn.ForAsync(server, await server.CreateUserAsync(), clientId, redirectUri);
        var otherIdToken = (await other.RedeemAsync(api)).GetProperty("id_token").GetString()!;
        var forged = Forge(ownIdToken);
        var unsigned = string.Join('.', ownIdToken.Split('.')[..2]) + ".";

        foreach (var (hint, what) in new[]
        {
            ("x", "any non-empty value"),
            (forged, "an id_token signed by a foreign key"),
            (unsigned, "an unsigned id_token"),
            (ownIdToken[..^2], "a truncated id_token"),
            (otherIdToken, "a valid id_token of another user"),
        })
        {
            foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post })
            {
                var parameters = new Dictionary<string, string>
                {
                    ["id_token_hint"] = hint,
                    ["post_logout_redirect_uri"] = redirectUri,
                    ["state"] = "bye",
                };
                using var request = method == HttpMethod.Get
                    ? new HttpRequestMessage(method, "/connect/endsession" + QueryString(parameters))
                    : new HttpRequestMessage(method, "/connect/endsession") { Content = new FormUrlEncodedContent(parameters) };
                using var response = await flow.Browser.SendAsync(request);

                response.StatusCode.Should().Be(HttpStatusCode.OK, "{0} ({1}) must not sign the user out unasked", what, method);
                (await response.Content.ReadAsStringAsync()).Should().Contain("confirm_logout", what);
                (await CodeWithoutSigningInAsync(flow, clientId, redirectUri)).Should().BeTrue("the session survives {0} ({1})", what, method);
            }
        }

        var logout = await flow.FollowAsync($"/connect/endsession?id_token_hint={ownIdToken}&post_logout_redirect_uri={Uri.EscapeDataString(redirectUri)}&state=bye");
        logout.StatusCode.Should().Be(HttpStatusCode.Redirect);
        logout.Headers.Location!.ToString().Should().StartWith(redirectUri).And.Contain("state=bye");
        (await CodeWithoutSigningInAsync(flow, clientId, redirectUri)).Should().BeFalse("the valid hint of the signed-in user signs out at once");
    }

    // ---- discovery advertises only what a client can use ----

    [Fact]
    public async Task Discovery_advertises_no_client_secret_jwt_and_a_client_without_keys_cant_use_an_assertion()
    {
        using var api = server.CreateApiClient();
        var discovery = await BrowserFlow.JsonAsync(await api.GetAsync("/.well-known/openid-configuration"));

        foreach (var name in new[] { "token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported" })
        {
            if (discovery.TryGetProperty(name, out var methods))
            {
                // Note: private_key_jwt is offered (clients register keys); HMAC assertions with a shared secret are not.
                methods.EnumerateArray().Select(method => method.GetString()).Should().NotContain("client_secret_jwt", name);
            }
        }

        var (clientId, _) = await server.CreatePublicClientAsync();
        using var assertion = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = clientId,
            ["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ["client_assertion"] = Forge(new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor { Issuer = clientId, Subject = new ClaimsIdentity([new Claim("sub", clientId)]) })),
        }));
        var refusal = await assertion.Content.ReadAsStringAsync();
        assertion.StatusCode.Should().Be(HttpStatusCode.Unauthorized, refusal);
        refusal.Should().Contain("invalid_client", "a public client has no keys to check an assertion with");
    }

    // ---- HEAD on the well-known documents (RFC 9110 §9.3.2) ----

    [Theory]
    [InlineData("/.well-known/openid-configuration")]
    [InlineData("/.well-known/oauth-authorization-server")]
    [InlineData("/.well-known/jwks.json")]
    [InlineData("/.WELL-KNOWN/JWKS.JSON")]
    [InlineData("/.well-known/openid-configuration?x=1")]
    public async Task HEAD_answers_like_GET_without_a_body(string path)
    {
        using var api = server.CreateApiClient();
        using var get = await api.GetAsync(path);
        var body = await get.Content.ReadAsByteArrayAsync();

        using var head = await api.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
        var headBody = await head.Content.ReadAsByteArrayAsync();

        get.StatusCode.Should().Be(HttpStatusCode.OK);
        head.StatusCode.Should().Be(HttpStatusCode.OK);
        headBody.Should().BeEmpty();
        head.Content.Headers.ContentLength.Should().Be(body.Length);
        head.Content.Headers.ContentType!.MediaType.Should().Be(get.Content.Headers.ContentType!.MediaType);
        head.Headers.ETag.Should().Be(get.Headers.ETag);
        head.Headers.CacheControl.Should().Be(get.Headers.CacheControl);

        using var conditional = new HttpRequestMessage(HttpMethod.Head, path);
        conditional.Headers.IfNoneMatch.Add(get.Headers.ETag!);
        using var revalidated = await api.SendAsync(conditional);
        revalidated.StatusCode.Should().Be(HttpStatusCode.NotModified);
    }

    private async Task<(BrowserFlow Flow, string ClientId, string RedirectUri)> SignedInBrowserAsync()
    {
        var signedIn = await SignedIn.StartAsync(server);
        return (signedIn.Flow!, signedIn.ClientId, signedIn.RedirectUri);
    }

    // A signed-in browser asks for another code; the first-party client needs no consent.
    private static async Task<string> CodeAsync(BrowserFlow flow, string clientId, string redirectUri, string challenge)
    {
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["code_challenge"] = challenge;
        var response = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(parameters));
        response.StatusCode.Should().Be(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        response.Headers.Location!.ToString().Should().StartWith(redirectUri);
        return BrowserFlow.Query(response.Headers.Location!)["code"];
    }

    private static async Task<bool> CodeWithoutSigningInAsync(BrowserFlow flow, string clientId, string redirectUri)
    {
        var response = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));
        return response.StatusCode == HttpStatusCode.Redirect
            && response.Headers.Location!.ToString().StartsWith(redirectUri, StringComparison.Ordinal)
            && BrowserFlow.Query(response.Headers.Location!).ContainsKey("code");
    }

    private static string S256(string verifier) => Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(verifier)));

    // The same header and claims, signed by a key this server has never seen.
    private static string Forge(string token)
    {
        var parts = token.Split('.');
        using var rsa = RSA.Create(2048);
        var input = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        return parts[0] + "." + parts[1] + "." + Base64UrlEncoder.Encode(rsa.SignData(input, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    private static async Task<TokenValidationResult> StrictlyValidateAsync(HttpClient api, string token, string audience) =>
        await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = api.BaseAddress!.ToString(),
            ValidAudience = audience,
            ValidateAudience = true,
            IssuerSigningKeys = new JsonWebKeySet(await api.GetStringAsync("/.well-known/jwks.json")).GetSigningKeys(),
            ValidTypes = ["at+jwt"],
            RequireSignedTokens = true,
        });

    private static FormUrlEncodedContent Form(Dictionary<string, string?> parameters) =>
        new(parameters.Where(pair => pair.Value is not null).ToDictionary(pair => pair.Key, pair => pair.Value!));

    private static string QueryString(Dictionary<string, string> parameters) =>
        "?" + string.Join('&', parameters.Select(pair => $"{Uri.EscapeDataString(pair.Key)}={Uri.EscapeDataString(pair.Value)}"));
}
