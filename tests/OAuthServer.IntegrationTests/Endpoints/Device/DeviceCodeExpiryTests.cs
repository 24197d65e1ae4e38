using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.Infrastructure.DeviceSteps;

namespace OAuthServer.IntegrationTests.Endpoints.Device;

/// <summary>RFC 8628 §3.5: a device code past its lifetime is <c>expired_token</c>, and its user code is no longer accepted.</summary>
public sealed class DeviceCodeExpiryTests
{
    [Fact]
    public async Task A_device_code_past_its_lifetime_is_expired_and_its_user_code_is_refused()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await CustomServer.StartAsync(services: services => services.AddSingleton<TimeProvider>(clock));
        var email = await server.CreateUserAsync();
        var clientId = await server.CreateDeviceClientAsync();
        using var api = server.CreateApiClient();
        var (_, device) = await AuthorizeDeviceAsync(api, clientId);
        var flow = new BrowserFlow(server);
        (await OpenVerificationAsync(flow, device.GetProperty("user_code").GetString()!, email, TestData.Password)).StatusCode
            .Should().Be(HttpStatusCode.OK, "within its lifetime the code is shown for approval");

        clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(30));

        (await flow.FollowAsync($"/connect/verify?user_code={device.GetProperty("user_code").GetString()}")).StatusCode
            .Should().Be(HttpStatusCode.BadRequest, "an expired user code can't be approved");
        var (status, body) = await PollAsync(api, clientId, device.GetProperty("device_code").GetString()!);
        status.Should().Be(HttpStatusCode.BadRequest);
        body.GetProperty("error").GetString().Should().Be("expired_token");
    }
}
