using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.StepUp;

/// <summary>RFC 8628: a device sign-in asks for the same level as the authorization endpoint would.</summary>
[Collection(SharedPostgresServer.Name)]
public sealed class StepUpDeviceTests(OAuthServerFactory server)
{
    [Fact]
    public async Task A_device_client_registered_as_requiring_a_second_factor_sends_a_password_only_session_to_the_second_factor_page()
    {
        var email = await server.CreateUserAsync();
        var clientId = await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = "tv-" + Guid.NewGuid().ToString("N")[..12],
            Kind = ClientKind.Public,
            AllowDeviceCode = true,
            Scopes = ["openid", "offline_access"],
            RequireSecondFactor = true,
        });
        using var api = server.CreateApiClient();
        var (_, device) = await DeviceSteps.AuthorizeDeviceAsync(api, clientId, "openid offline_access");
        var userCode = device.GetProperty("user_code").GetString()!;

        var page = await DeviceSteps.OpenVerificationAsync(new BrowserFlow(server), userCode, email, TestData.Password);

        page.RequestMessage!.RequestUri!.AbsolutePath.Should().Be(StepUpFlow.SecondFactorPath, "no approval page for a password-only session");
        Uri.UnescapeDataString(page.RequestMessage.RequestUri.Query).Should().Contain("returnUrl=/connect/verify?user_code=");
        (await DeviceSteps.PollAsync(api, clientId, device.GetProperty("device_code").GetString()!)).Body.GetProperty("error").GetString()
            .Should().Be("authorization_pending", "nothing was approved");
    }
}
