using Microsoft.Extensions.Options;
using OAuthServer.Security;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Device;

/// <summary>
/// Tells the device how long to wait between polls (RFC 8628 §3.2 <c>interval</c>): one second more than the
/// window <see cref="DevicePollingHandler"/> enforces, so a device that waits as told is never refused.
/// </summary>
internal sealed class DeviceIntervalHandler(IOptions<RateLimitingOptions> limits) : IOpenIddictServerHandler<HandleDeviceAuthorizationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<HandleDeviceAuthorizationRequestContext>()
            .UseSingletonHandler<DeviceIntervalHandler>()
            .SetOrder(int.MaxValue - 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public static long IntervalSeconds(RateLimitingOptions options) => (long)Math.Ceiling(options.DevicePolling.Window.TotalSeconds) + 1;

    public ValueTask HandleAsync(HandleDeviceAuthorizationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        // Note: a JSON number (RFC 8628 §3.2), not a string.
        context.Parameters[Parameters.Interval] = IntervalSeconds(limits.Value);
        return ValueTask.CompletedTask;
    }
}
