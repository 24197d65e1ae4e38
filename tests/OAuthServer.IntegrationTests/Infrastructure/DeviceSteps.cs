using System.Net;
using System.Text.Json;
using OAuthServer.Admin;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>The steps of a device sign-in (RFC 8628) as a device and as the user's browser take them.</summary>
internal static class DeviceSteps
{
    public const string DeviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code";

    /// <summary>A public device client (a TV, a CLI) with the device grant and refresh tokens.</summary>
    public static async Task<string> CreateDeviceClientAsync(this OAuthServerFactory server) => await server.RegisterClientAsync(new ClientRegistration
    {
        ClientId = "tv-" + Guid.NewGuid().ToString("N")[..12],
        DisplayName = "Living-room TV",
        Kind = ClientKind.Public,
        AllowDeviceCode = true,
        Scopes = ["openid", "profile", "offline_access", "api"],
    });

    /// <summary>The device's first request (RFC 8628 §3.1); the response as JSON.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> AuthorizeDeviceAsync(HttpClient api, string clientId, string scope = "openid offline_access api", string path = "/connect/device")
    {
        using var response = await api.PostAsync(path, new FormUrlEncodedContent(new Dictionary<string, string> { ["client_id"] = clientId, ["scope"] = scope }));
        return (response.StatusCode, await BrowserFlow.JsonAsync(response));
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> PollAsync(HttpClient api, string clientId, string deviceCode)
    {
        using var response = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = DeviceCodeGrant, ["client_id"] = clientId, ["device_code"] = deviceCode,
        }));
        return (response.StatusCode, await BrowserFlow.JsonAsync(response));
    }

    /// <summary>
    /// The user's side: opens the verification page with <paramref name="userCode"/>, signs in if asked, and
    /// returns the confirmation page (or whatever the page answered instead).
    /// </summary>
    public static async Task<HttpResponseMessage> OpenVerificationAsync(BrowserFlow flow, string userCode, string email, string password, string path = "/connect/verify")
    {
        var page = await flow.FollowAsync($"{path}?user_code={Uri.EscapeDataString(userCode)}");
        if (page.RequestMessage?.RequestUri?.AbsolutePath == "/account/login")
        {
            var afterLogin = await flow.SubmitLoginAsync(page, email, password);
            afterLogin.StatusCode.Should().Be(HttpStatusCode.Redirect, "a correct login redirects back to the verification page");
            page = await flow.FollowAsync(afterLogin.Headers.Location!.ToString());
        }

        return page;
    }

    /// <summary>Submits the decision on a confirmation page; returns the page's answer (a redirect to the outcome).</summary>
    public static async Task<HttpResponseMessage> DecideAsync(BrowserFlow flow, HttpResponseMessage confirmation, bool accept)
    {
        confirmation.StatusCode.Should().Be(HttpStatusCode.OK, "the confirmation page is shown");
        var fields = BrowserFlow.HiddenFields(await confirmation.Content.ReadAsStringAsync());
        fields["decision"] = accept ? "accept" : "deny";
        return await flow.Browser.PostAsync("/connect/verify", new FormUrlEncodedContent(fields));
    }

    /// <summary>The whole user side: open, sign in, decide; asserts the outcome page was reached.</summary>
    public static async Task ApproveAsync(BrowserFlow flow, string userCode, string email, string password, bool accept = true)
    {
        var decided = await DecideAsync(flow, await OpenVerificationAsync(flow, userCode, email, password), accept);
        decided.StatusCode.Should().Be(HttpStatusCode.Redirect);
        decided.Headers.Location!.ToString().Should().Contain(accept ? "outcome=approved" : "outcome=denied");
    }
}
