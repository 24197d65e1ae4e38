using System.Net;
using System.Text;
using System.Text.Json;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>OIDC Core §3.1.2.1 max_age and §2 auth_time, through real authorize flows and the ID tokens they yield.</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class SessionAgeTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Max_age_zero_makes_a_signed_in_user_sign_in_again_and_the_id_token_carries_that_auth_time()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var first = await SignedIn.ForAsync(server, email, clientId, redirectUri);
        var flow = first.Flow!;
        await Task.Delay(TimeSpan.FromSeconds(1.2)); // so the second sign-in's second differs from the first's

        var pkce = Pkce.Create();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce);
        parameters["max_age"] = "0";
        var page = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(parameters));

        page.StatusCode.Should().Be(HttpStatusCode.OK, "max_age=0 asks for a fresh sign-in, like prompt=login");
        (await page.Content.ReadAsStringAsync()).Should().Contain("action=\"/account/login\"");
        var signInStarted = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var afterLogin = await flow.SubmitLoginAsync(page, email, TestData.Password);
        afterLogin.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var redirect = await flow.FollowAsync(afterLogin.Headers.Location!.ToString());
        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect, "the fresh sign-in satisfies max_age=0 (no loop)");
        var code = BrowserFlow.Query(redirect.Headers.Location!)["code"];

        using var api = server.CreateApiClient();
        var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, code, pkce.Verifier)).ShouldSucceedAsync();
        var authTime = AuthTime(tokens);
        authTime.Should().BeInRange(signInStarted, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), "auth_time is the fresh sign-in's time");

        var refreshed = await (await api.RefreshAsync(clientId, tokens.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();
        AuthTime(refreshed).Should().Be(authTime, "OIDC Core §12.2: a refreshed ID token keeps the original auth_time");
    }

    [Theory]
    [InlineData("99999999999999999", "code")] // past TimeSpan's range: any session is young enough
    [InlineData("9223372036854775807", "code")]
    [InlineData("-1", "error")]
    [InlineData("-9223372036854775808", "error")]
    public async Task An_extreme_max_age_from_a_signed_in_browser_is_answered_not_a_500(string maxAge, string answer)
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var first = await SignedIn.ForAsync(server, email, clientId, redirectUri);

        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        parameters["max_age"] = maxAge;
        var response = await first.Flow!.FollowAsync(BrowserFlow.AuthorizeUrl(parameters));

        response.StatusCode.Should().Be(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        var query = BrowserFlow.Query(response.Headers.Location!);
        query.Should().ContainKey(answer);
        if (answer == "error")
        {
            query["error"].Should().Be("invalid_request");
        }
    }

    [Fact]
    public async Task A_session_older_than_max_age_signs_in_again_and_a_younger_one_does_not()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var first = await SignedIn.ForAsync(server, email, clientId, redirectUri);
        using var api = server.CreateApiClient();
        var signedInAt = AuthTime(await first.RedeemAsync(api));
        var flow = first.Flow!;

        var pkce = Pkce.Create();
        var young = BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce);
        young["max_age"] = "3600";
        var allowed = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(young));
        allowed.StatusCode.Should().Be(HttpStatusCode.Redirect, "a session younger than max_age needs no new sign-in");
        var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, BrowserFlow.Query(allowed.Headers.Location!)["code"], pkce.Verifier)).ShouldSucceedAsync();
        AuthTime(tokens).Should().Be(signedInAt, "auth_time is when the user signed in, not when the code was issued");

        await Task.Delay(TimeSpan.FromSeconds(2.5));
        var silent = BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create());
        silent["max_age"] = "1";
        silent["prompt"] = "none";
        var refused = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(silent));
        refused.StatusCode.Should().Be(HttpStatusCode.Redirect);
        BrowserFlow.Query(refused.Headers.Location!).Should().Contain("error", "login_required");

        silent.Remove("prompt");
        var page = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(silent));
        page.StatusCode.Should().Be(HttpStatusCode.OK, "the session is older than max_age=1");
        (await page.Content.ReadAsStringAsync()).Should().Contain("action=\"/account/login\"");
    }

    [Fact]
    public async Task A_pushed_request_with_max_age_zero_signs_in_once_and_returns_a_code_with_auth_time()
    {
        // With PAR, max_age can't be dropped from the URL the user returns to; the fresh sign-in must satisfy it.
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var pkce = Pkce.Create();
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce);
        parameters["max_age"] = "0";
        using var api = server.CreateApiClient();
        var pushed = await BrowserFlow.JsonAsync(await api.PostAsync("/connect/par", new FormUrlEncodedContent(parameters.ToDictionary(pair => pair.Key, pair => pair.Value!))));

        var redirect = await new BrowserFlow(server).SignInAsync(
            $"/connect/authorize?client_id={clientId}&request_uri={Uri.EscapeDataString(pushed.GetProperty("request_uri").GetString()!)}", email, TestData.Password);

        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect, "the fresh sign-in satisfies max_age=0 instead of asking again");
        var code = BrowserFlow.Query(redirect.Headers.Location!)["code"];
        var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, code, pkce.Verifier)).ShouldSucceedAsync();
        AuthTime(tokens).Should().BeGreaterThan(0);
    }

    private static long AuthTime(JsonElement tokens)
    {
        var payload = tokens.GetProperty("id_token").GetString()!.Split('.')[1].Replace('-', '+').Replace('_', '/');
        payload = payload.PadRight(payload.Length + ((4 - (payload.Length % 4)) % 4), '=');
        var claims = JsonDocument.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(payload))).RootElement;
        claims.TryGetProperty("auth_time", out var authTime).Should().BeTrue("the ID token must carry auth_time: {0}", claims.ToString());
        authTime.ValueKind.Should().Be(JsonValueKind.Number);
        return authTime.GetInt64();
    }
}
