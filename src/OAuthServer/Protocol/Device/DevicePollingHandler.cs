using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using OAuthServer.Security;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Device;

/// <summary>
/// RFC 8628 §3.5: a device that polls faster than the interval gets <c>slow_down</c>. One permit of
/// <see cref="RateLimits.DevicePolling"/> per window and device code, counted before OpenIddict looks the code up
/// (its <c>authorization_pending</c> answer comes from that lookup). The counter is keyed by a hash of the device
/// code, so only its holder can spend it and the code itself is never a key in Redis; with Redis configured the
/// window holds across nodes.
/// </summary>
internal sealed class DevicePollingHandler(RateLimits limits) : IOpenIddictServerHandler<ValidateTokenRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenRequestContext>()
            .UseSingletonHandler<DevicePollingHandler>()
            .SetOrder(int.MinValue + 50_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ValidateTokenRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.Request.IsDeviceCodeGrantType() || string.IsNullOrEmpty(context.Request.DeviceCode))
        {
            return;
        }

        var key = WebEncoders.Base64UrlEncode(SHA256.HashData(Encoding.UTF8.GetBytes(context.Request.DeviceCode)));
        if (await limits.AcquireAsync(RateLimits.DevicePolling, key, context.CancellationToken) is { Allowed: false })
        {
            context.Reject(Errors.SlowDown, "The device polled before the interval passed; wait 5 seconds longer between polls.");
        }
    }
}
