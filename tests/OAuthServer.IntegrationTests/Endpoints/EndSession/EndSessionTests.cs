using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Endpoints.EndSession;

/// <summary>OpenID Connect RP-Initiated Logout: the end-session endpoint signs the browser out.</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class EndSessionTests(OAuthServerFactory server)
{
    [Fact]
    public async Task End_session_signs_the_user_out_so_the_next_authorize_asks_for_the_password_again()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var flow = new BrowserFlow(server);
        await flow.SignInAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())), email, TestData.Password);

        // Without an id_token_hint the user confirms first, through an antiforgery-protected form.
        var confirm = await flow.FollowAsync($"/connect/endsession?client_id={clientId}&post_logout_redirect_uri={Uri.EscapeDataString(redirectUri)}&state=bye");
        confirm.StatusCode.Should().Be(HttpStatusCode.OK);
        var fields = BrowserFlow.HiddenFields(await confirm.Content.ReadAsStringAsync());
        fields.Should().ContainKey("__RequestVerificationToken");
        var forged = await flow.Browser.PostAsync("/connect/endsession", new FormUrlEncodedContent(
            fields.Where(pair => pair.Key != "__RequestVerificationToken").Append(KeyValuePair.Create("confirm_logout", "yes"))));
        forged.StatusCode.Should().Be(HttpStatusCode.BadRequest, "another site can't post the confirmation");
        fields["confirm_logout"] = "yes";
        var logout = await flow.Browser.PostAsync("/connect/endsession", new FormUrlEncodedContent(fields));
        logout.StatusCode.Should().Be(HttpStatusCode.Redirect);
        logout.Headers.Location!.ToString().Should().StartWith(redirectUri).And.Contain("state=bye");

        var again = await flow.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())));
        again.StatusCode.Should().Be(HttpStatusCode.OK);
        (await again.Content.ReadAsStringAsync()).Should().Contain("action=\"/account/login\"");
    }

    [Fact]
    public async Task End_session_with_a_valid_id_token_hint_signs_out_without_asking()
    {
        var signedIn = await SignedIn.StartAsync(server);
        var (flow, redirectUri) = (signedIn.Flow!, signedIn.RedirectUri);
        using var api = server.CreateApiClient();
        var idToken = (await signedIn.RedeemAsync(api)).GetProperty("id_token").GetString()!;

        var logout = await flow.FollowAsync($"/connect/endsession?id_token_hint={idToken}&post_logout_redirect_uri={Uri.EscapeDataString(redirectUri)}&state=bye");

        logout.StatusCode.Should().Be(HttpStatusCode.Redirect);
        logout.Headers.Location!.ToString().Should().StartWith(redirectUri).And.Contain("state=bye");
    }
}
