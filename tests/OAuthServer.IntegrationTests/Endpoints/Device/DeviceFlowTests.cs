using System.Net;
using Duende.IdentityModel.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using OAuthServer.Accounts;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.Infrastructure.DeviceSteps;

namespace OAuthServer.IntegrationTests.Endpoints.Device;

/// <summary>
/// The device authorization grant (RFC 8628) over HTTP: a standard client library's whole journey, and every
/// refusal the device or the user can meet.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class DeviceFlowTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Discovery_advertises_the_device_endpoint_and_the_device_code_grant()
    {
        using var api = server.CreateApiClient();
        var discovery = await BrowserFlow.JsonAsync(await api.GetAsync("/.well-known/openid-configuration"));
        discovery.GetProperty("device_authorization_endpoint").GetString().Should().Be(new Uri(server.Issuer, "connect/device").ToString());
        discovery.GetProperty("grant_types_supported").EnumerateArray().Select(item => item.GetString()).Should().Contain(DeviceCodeGrant);
    }

    [Fact]
    public async Task A_standard_client_completes_a_device_sign_in_with_a_code_typed_in_lower_case_without_its_dash()
    {
        var email = await server.CreateUserAsync();
        var clientId = await server.CreateDeviceClientAsync();
        using var http = server.CreateApiClient();
        var discovery = await http.GetDiscoveryDocumentAsync(new DiscoveryDocumentRequest
        {
            Address = server.Issuer.ToString(),
            Policy = { RequireHttps = false, AllowHttpOnLoopback = true },
        });
        discovery.IsError.Should().BeFalse(discovery.Error);

        var device = await http.RequestDeviceAuthorizationAsync(new DeviceAuthorizationRequest
        {
            Address = discovery.DeviceAuthorizationEndpoint,
            ClientId = clientId,
            Scope = "openid profile offline_access api",
        });
        device.IsError.Should().BeFalse(device.Error);
        device.VerificationUri.Should().Be(new Uri(server.Issuer, "connect/verify").ToString());
        device.VerificationUriComplete.Should().Contain("user_code=");
        device.Interval.Should().BeGreaterThanOrEqualTo(5, "RFC 8628 §3.2: the interval the device must wait");
        device.UserCode.Should().MatchRegex("^[BCDFGHJKLMNPQRSTVWXZ]{5}-[BCDFGHJKLMNPQRSTVWXZ]{5}$", "RFC 8628 §6.1: consonants only, grouped for reading");
        device.ExpiresIn.Should().BeInRange(1, 600, "codes are short-lived");

        var pending = await http.RequestDeviceTokenAsync(new DeviceTokenRequest { Address = discovery.TokenEndpoint, ClientId = clientId, DeviceCode = device.DeviceCode! });
        pending.Error.Should().Be("authorization_pending");

        var typed = device.UserCode!.Replace("-", string.Empty, StringComparison.Ordinal).ToLowerInvariant();
        await ApproveAsync(new BrowserFlow(server), typed, email, TestData.Password);

        var tokens = await http.RequestDeviceTokenAsync(new DeviceTokenRequest { Address = discovery.TokenEndpoint, ClientId = clientId, DeviceCode = device.DeviceCode! });
        tokens.IsError.Should().BeFalse(tokens.Error);
        tokens.RefreshToken.Should().NotBeNullOrEmpty();
        tokens.IdentityToken.Should().NotBeNullOrEmpty();
        var user = await server.ReadUserAsync(email);
        var access = new JsonWebToken(tokens.AccessToken);
        access.Subject.Should().Be(user.Id.ToString());
        access.GetClaim("client_id").Value.Should().Be(clientId);
        access.Audiences.Should().Contain("api");

        var refreshed = await http.RequestRefreshTokenAsync(new RefreshTokenRequest { Address = discovery.TokenEndpoint, ClientId = clientId, RefreshToken = tokens.RefreshToken! });
        refreshed.IsError.Should().BeFalse(refreshed.Error);

        var again = await http.RequestDeviceTokenAsync(new DeviceTokenRequest { Address = discovery.TokenEndpoint, ClientId = clientId, DeviceCode = device.DeviceCode! });
        again.Error.Should().Be("invalid_grant", "a device code is redeemed once");
    }

    [Fact]
    public async Task A_device_the_user_denies_gets_access_denied()
    {
        var email = await server.CreateUserAsync();
        var clientId = await server.CreateDeviceClientAsync();
        using var api = server.CreateApiClient();
        var (_, device) = await AuthorizeDeviceAsync(api, clientId);

        await ApproveAsync(new BrowserFlow(server), device.GetProperty("user_code").GetString()!, email, TestData.Password, accept: false);

        var (status, body) = await PollAsync(api, clientId, device.GetProperty("device_code").GetString()!);
        status.Should().Be(HttpStatusCode.BadRequest);
        body.GetProperty("error").GetString().Should().Be("access_denied");
    }

    [Fact]
    public async Task A_user_code_approves_once_and_is_refused_after()
    {
        var email = await server.CreateUserAsync();
        var clientId = await server.CreateDeviceClientAsync();
        using var api = server.CreateApiClient();
        var (_, device) = await AuthorizeDeviceAsync(api, clientId);
        var userCode = device.GetProperty("user_code").GetString()!;
        var flow = new BrowserFlow(server);
        var confirmation = await OpenVerificationAsync(flow, userCode, email, TestData.Password);
        var replayedForm = BrowserFlow.HiddenFields(await confirmation.Content.ReadAsStringAsync());
        await ApproveAsync(flow, userCode, email, TestData.Password);

        var reopened = await flow.FollowAsync($"/connect/verify?user_code={userCode}");
        reopened.StatusCode.Should().Be(HttpStatusCode.BadRequest, "a used user code is no longer valid");
        replayedForm["decision"] = "deny";
        var replayed = await flow.Browser.PostAsync("/connect/verify", new FormUrlEncodedContent(replayedForm));
        replayed.StatusCode.Should().Be(HttpStatusCode.BadRequest, "nor can a stale confirmation form decide again");
        var (pollStatus, poll) = await PollAsync(api, clientId, device.GetProperty("device_code").GetString()!);
        pollStatus.Should().Be(HttpStatusCode.OK, "the approval stands ({0})", poll);
    }

    [Fact]
    public async Task A_wrong_user_code_is_refused_with_one_answer()
    {
        var email = await server.CreateUserAsync();
        var flow = new BrowserFlow(server);
        var page = await OpenVerificationAsync(flow, "BCDFG-HJKLM", email, TestData.Password);
        page.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await page.Content.ReadAsStringAsync()).Should().Contain("That code is not valid");
        (await flow.FollowAsync("/connect/verify?user_code=%00%00")).StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_verification_page_needs_a_session_antiforgery_and_refuses_framing()
    {
        var email = await server.CreateUserAsync();
        var clientId = await server.CreateDeviceClientAsync();
        using var api = server.CreateApiClient();
        var (_, device) = await AuthorizeDeviceAsync(api, clientId);
        var userCode = device.GetProperty("user_code").GetString()!;

        var flow = new BrowserFlow(server);
        var anonymous = await flow.Browser.GetAsync($"/connect/verify?user_code={userCode}");
        anonymous.StatusCode.Should().Be(HttpStatusCode.Redirect);
        anonymous.Headers.Location!.ToString().Should().StartWith("http://127.0.0.1").And.Contain("/account/login");

        var confirmation = await OpenVerificationAsync(flow, userCode, email, TestData.Password);
        confirmation.Headers.GetValues("X-Frame-Options").Should().ContainSingle("DENY");
        string.Join(' ', confirmation.Headers.GetValues("Content-Security-Policy")).Should().Contain("frame-ancestors 'none'");
        var fields = BrowserFlow.HiddenFields(await confirmation.Content.ReadAsStringAsync());
        fields.Remove("__RequestVerificationToken").Should().BeTrue("the form carries an antiforgery token");
        fields["decision"] = "accept";
        var forged = await flow.Browser.PostAsync("/connect/verify", new FormUrlEncodedContent(fields));
        forged.StatusCode.Should().Be(HttpStatusCode.BadRequest, "a post without the antiforgery token is refused");

        (await PollAsync(api, clientId, device.GetProperty("device_code").GetString()!)).Body.GetProperty("error").GetString()
            .Should().Be("authorization_pending", "the forged approval decided nothing");
    }

    [Fact]
    public async Task An_unknown_client_and_a_client_without_the_grant_are_refused_at_the_device_endpoint()
    {
        using var api = server.CreateApiClient();
        var (unknownStatus, unknown) = await AuthorizeDeviceAsync(api, "no-such-device-client");
        unknownStatus.Should().Be(HttpStatusCode.Unauthorized, "RFC 6749 §5.2: invalid_client");
        unknown.GetProperty("error").GetString().Should().Be("invalid_client");

        var (codeClient, _) = await server.CreatePublicClientAsync();
        var (status, body) = await AuthorizeDeviceAsync(api, codeClient);
        status.Should().Be(HttpStatusCode.BadRequest);
        body.GetProperty("error").GetString().Should().BeOneOf("unauthorized_client", "invalid_client");

        // Nor can such a client redeem a device's approved code at the token endpoint; the device still can.
        var email = await server.CreateUserAsync();
        var deviceClient = await server.CreateDeviceClientAsync();
        var (_, device) = await AuthorizeDeviceAsync(api, deviceClient);
        await ApproveAsync(new BrowserFlow(server), device.GetProperty("user_code").GetString()!, email, TestData.Password);
        var (pollStatus, poll) = await PollAsync(api, codeClient, device.GetProperty("device_code").GetString()!);
        pollStatus.Should().Be(HttpStatusCode.BadRequest);
        poll.GetProperty("error").GetString().Should().BeOneOf("unauthorized_client", "invalid_grant");
        (await PollAsync(api, deviceClient, device.GetProperty("device_code").GetString()!)).Status.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_device_code_of_a_user_locked_after_approval_is_refused_when_redeemed()
    {
        var email = await server.CreateUserAsync();
        var clientId = await server.CreateDeviceClientAsync();
        using var api = server.CreateApiClient();
        var (_, device) = await AuthorizeDeviceAsync(api, clientId);
        await ApproveAsync(new BrowserFlow(server), device.GetProperty("user_code").GetString()!, email, TestData.Password);

        // Locked in the row only (no revocation), so it is the gate at redemption that refuses.
        await server.ChangeUserAsync(email, user => user.Status = AccountStatus.Locked);

        var (status, body) = await PollAsync(api, clientId, device.GetProperty("device_code").GetString()!);
        status.Should().Be(HttpStatusCode.BadRequest);
        body.GetProperty("error").GetString().Should().Be("invalid_grant");
    }

    [Fact]
    public async Task Device_sign_in_is_opt_in_per_client_and_not_open_to_dynamic_registration()
    {
        var registration = new ClientRegistration { ClientId = "tv-" + Guid.NewGuid().ToString("N")[..12], Kind = ClientKind.Public, GrantTypes = [DeviceCodeGrant, "refresh_token"], Scopes = ["openid"] };
        var registered = await server.WithScopeAsync(services => services.GetRequiredService<ClientRegistry>()
            .RegisterAsync(registration, policy: ClientPolicy.Registration([])));
        registered.Succeeded.Should().BeFalse();
        registered.Problems.Should().Contain(problem => problem.Field == "grant_types");

        (await server.WithScopeAsync(services => services.GetRequiredService<ClientRegistry>().RegisterAsync(registration))).Succeeded.Should().BeTrue();
        var view = await server.WithScopeAsync(services => services.GetRequiredService<ClientRegistry>().GetAsync(registration.ClientId));
        view!.GrantTypes.Should().BeEquivalentTo([DeviceCodeGrant, "refresh_token"]);
    }
}
