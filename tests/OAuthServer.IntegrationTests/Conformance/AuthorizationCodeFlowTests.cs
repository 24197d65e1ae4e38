using System.Net;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance;

[Collection(SharedPostgresServer.Name)]
public sealed class AuthorizationCodeFlowTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Full_code_flow_with_PKCE_through_the_login_form_returns_code_state_and_iss()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var flow = new BrowserFlow(server);
        var authorizeUrl = BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create(), state: "opaque-state-42"));

        var loginPage = await flow.FollowAsync(authorizeUrl);
        loginPage.StatusCode.Should().Be(HttpStatusCode.OK);
        var html = await loginPage.Content.ReadAsStringAsync();
        html.Should().Contain("<form method=\"post\" action=\"/account/login\"");
        BrowserFlow.HiddenFields(html).Should().ContainKey("__RequestVerificationToken", "the login form is antiforgery-protected");

        var afterLogin = await flow.SubmitLoginAsync(loginPage, email, TestData.Password);
        afterLogin.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var redirect = await flow.FollowAsync(afterLogin.Headers.Location!.ToString());

        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var location = redirect.Headers.Location!;
        location.GetLeftPart(UriPartial.Path).Should().Be(redirectUri);
        var query = BrowserFlow.Query(location);
        query.Should().ContainKey("code").WhoseValue.Should().NotBeNullOrEmpty();
        query.Should().ContainKey("state").WhoseValue.Should().Be("opaque-state-42");
        // RFC 9207: the response names its issuer, so a client can detect mix-up attacks.
        query.Should().ContainKey("iss").WhoseValue.Should().Be(server.Issuer.ToString());
    }

    [Fact]
    public async Task Login_form_without_its_antiforgery_token_is_refused()
    {
        var flow = new BrowserFlow(server);
        await flow.FollowAsync("/account/login");

        var response = await flow.Browser.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["email"] = "someone@example.com",
            ["password"] = TestData.Password,
        }));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        response.Headers.Contains("Set-Cookie").Should().BeFalse("no session may start without the antiforgery token");
    }

    [Fact]
    public async Task Logout_without_its_antiforgery_token_is_refused()
    {
        var flow = new BrowserFlow(server);
        await flow.SignInAsync("/account/login", await server.CreateUserAsync(), TestData.Password);

        var response = await flow.Browser.PostAsync("/account/logout", new FormUrlEncodedContent(new Dictionary<string, string>()));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest, "another site must not be able to sign users out");
    }

    [Fact]
    public async Task Consent_form_without_its_antiforgery_token_is_refused()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync(implicitConsent: false);
        var flow = new BrowserFlow(server);
        var authorize = BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create()));
        var consentPage = await flow.SignInAsync(authorize, email, TestData.Password);
        var fields = BrowserFlow.HiddenFields(await consentPage.Content.ReadAsStringAsync());
        fields.Should().ContainKey("__RequestVerificationToken", "the consent form is antiforgery-protected");
        fields.Remove("__RequestVerificationToken");
        fields["decision"] = "accept";

        // The signed-in user's own browser sends the session cookie, as it would for a form posted from another site.
        var response = await flow.Browser.PostAsync("/account/consent", new FormUrlEncodedContent(fields));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest, "another site must not be able to grant consent in the user's name");
        var again = await flow.FollowAsync(authorize);
        again.StatusCode.Should().Be(HttpStatusCode.OK, "no consent was recorded, so the user is asked again");
        (await again.Content.ReadAsStringAsync()).Should().Contain("Allow access?");
    }

    [Fact]
    public async Task Wrong_password_and_unknown_user_get_the_same_answer()
    {
        var email = await server.CreateUserAsync();
        var flow = new BrowserFlow(server);

        var wrongPassword = await flow.SubmitLoginAsync(await flow.FollowAsync("/account/login"), email, "not-the-right-password");
        var unknownUser = await flow.SubmitLoginAsync(await flow.FollowAsync("/account/login"), TestData.NewEmail(), TestData.Password);

        wrongPassword.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        unknownUser.StatusCode.Should().Be(wrongPassword.StatusCode);
        (await wrongPassword.Content.ReadAsStringAsync()).Should().Contain("Invalid email or password.");
        (await unknownUser.Content.ReadAsStringAsync()).Should().Contain("Invalid email or password.");
    }

    [Fact]
    public async Task Code_is_exchanged_for_an_access_token_that_validates_against_the_JWKS()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();

        var tokens = await signedIn.RedeemAsync(api);

        tokens.GetProperty("token_type").GetString().Should().Be("Bearer");
        tokens.GetProperty("expires_in").GetInt32().Should().BeInRange(1, 600, "access tokens live 10 minutes by default");
        tokens.TryGetProperty("refresh_token", out _).Should().BeTrue();
        tokens.TryGetProperty("id_token", out _).Should().BeTrue();

        var jwks = new JsonWebKeySet(await api.GetStringAsync("/.well-known/jwks.json"));
        var accessToken = tokens.GetProperty("access_token").GetString()!;
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(accessToken, new TokenValidationParameters
        {
            ValidIssuer = server.Issuer.ToString(),
            ValidAudience = "api",
            IssuerSigningKeys = jwks.GetSigningKeys(),
            ValidTypes = ["at+jwt"],
            ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ClockSkew = TimeSpan.Zero,
        });

        result.IsValid.Should().BeTrue(result.Exception?.Message);
        var jwt = (JsonWebToken)result.SecurityToken;
        jwt.Typ.Should().Be("at+jwt");
        jwt.Alg.Should().Be("RS256");
        jwt.Kid.Should().NotBeNullOrEmpty().And.BeOneOf(jwks.Keys.Select(key => key.Kid));
        jwt.Issuer.Should().Be(server.Issuer.ToString());
        jwt.Audiences.Should().Equal("api");
        jwt.TryGetPayloadValue<long>("nbf", out _).Should().BeTrue("resource servers check nbf");
        jwt.TryGetPayloadValue<string>("jti", out var jti).Should().BeTrue();
        jti.Should().NotBeNullOrEmpty();
        jwt.GetClaim("client_id").Value.Should().Be(signedIn.ClientId);
        jwt.ValidTo.Should().BeCloseTo(DateTime.UtcNow.AddMinutes(10), TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task Access_token_signed_by_another_key_is_not_valid_for_the_JWKS()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();
        var accessToken = (await signedIn.RedeemAsync(api)).GetProperty("access_token").GetString()!;
        var parts = accessToken.Split('.');
        var tampered = parts[0] + "." + Base64UrlEncoder.Encode("{\"sub\":\"attacker\",\"aud\":\"api\"}") + "." + parts[2];

        var result = await new JsonWebTokenHandler().ValidateTokenAsync(tampered, new TokenValidationParameters
        {
            ValidIssuer = server.Issuer.ToString(),
            ValidAudience = "api",
            IssuerSigningKeys = new JsonWebKeySet(await api.GetStringAsync("/.well-known/jwks.json")).GetSigningKeys(),
        });

        result.IsValid.Should().BeFalse();
    }

    [Fact]
    public async Task Code_redeemed_twice_is_rejected()
    {
        var signedIn = await SignedIn.StartAsync(server);
        using var api = server.CreateApiClient();
        await signedIn.RedeemAsync(api);

        var second = await api.RedeemCodeAsync(signedIn.ClientId, signedIn.RedirectUri, signedIn.Code, signedIn.Pkce.Verifier);

        await second.ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Code_is_bound_to_the_client_it_was_issued_to()
    {
        var signedIn = await SignedIn.StartAsync(server);
        var (otherClient, otherRedirect) = await server.CreatePublicClientAsync();
        using var api = server.CreateApiClient();

        var response = await api.RedeemCodeAsync(otherClient, otherRedirect, signedIn.Code, signedIn.Pkce.Verifier);

        await response.ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Userinfo_returns_the_signed_in_subject()
    {
        var signedIn = await SignedIn.StartAsync(server, "openid email api");
        using var api = server.CreateApiClient();
        var accessToken = (await signedIn.RedeemAsync(api)).GetProperty("access_token").GetString()!;

        using var request = new HttpRequestMessage(HttpMethod.Get, "/connect/userinfo");
        request.Headers.Authorization = new("Bearer", accessToken);
        var response = await api.SendAsync(request);

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        var body = await BrowserFlow.JsonAsync(response);
        body.GetProperty("sub").GetString().Should().NotBeNullOrEmpty();
        body.GetProperty("email").GetString().Should().EndWith("@example.com");
    }
}
