using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Security;

namespace OAuthServer.Protocol.Device;

/// <summary>
/// The device authorization grant (RFC 8628) on OpenIddict: the device endpoint, the verification page, and our
/// rules on top of OpenIddict's (user codes of RFC 8628 §6.1 strength typed in any case, the polling interval,
/// the guess budget). The pipeline, in order:
/// <list type="number">
/// <item><c>/connect/device</c> (OpenIddict, no passthrough): the client's permission for the endpoint and the
/// grant, its scopes; <see cref="DeviceIntervalHandler"/> adds the polling <c>interval</c>.</item>
/// <item><c>/connect/verify</c>: RateLimitingMiddleware reserves a guess (<see cref="UserCodeGuess"/>);
/// <see cref="UserCodeNormalizationHandler"/> upper-cases the code; OpenIddict looks it up;
/// <see cref="UserCodeCheckedHandler"/> gives a valid code's guess back; <see cref="DeviceVerificationEndpoint"/>
/// signs the user in with the login page, shows what the device asks for, and approves or denies it.</item>
/// <item><c>/connect/token</c> with the device_code grant: <see cref="DevicePollingHandler"/> (<c>slow_down</c>),
/// then OpenIddict (<c>authorization_pending</c>, <c>access_denied</c>, <c>expired_token</c>), the account gate
/// (<see cref="AccountGateHandler"/>) and the atomic redemption (<see cref="AtomicTokenRedemptionHandler"/>).</item>
/// </list>
/// </summary>
internal static class DeviceFlow
{
    /// <summary>
    /// RFC 8628 §6.1's own example alphabet: 20 consonants, no vowels (no words) and none of the look-alikes 0/O, 1/I.
    /// </summary>
    public static readonly string[] UserCodeCharset = [.. "BCDFGHJKLMNPQRSTVWXZ".Select(letter => letter.ToString())];

    /// <summary>10 characters of 20: 20^10 ≈ 10^13 codes (about 43 bits), shown as <c>XXXXX-XXXXX</c>.</summary>
    public const int UserCodeLength = 10;

    /// <summary>
    /// How long a device code and its user code live: enough to find a phone and sign in, short enough that a
    /// code read off a screen is soon worthless (RFC 8628 §5.2).
    /// </summary>
    public static readonly TimeSpan CodeLifetime = TimeSpan.FromMinutes(10);

    public static OpenIddictServerBuilder AddDeviceFlow(this OpenIddictServerBuilder options)
    {
        options.SetDeviceAuthorizationEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.DeviceAuthorization))
            .SetEndUserVerificationEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.Verification))
            .AllowDeviceAuthorizationFlow()
            .SetUserCodeCharset(UserCodeCharset)
            .SetUserCodeLength(UserCodeLength)
            .SetUserCodeDisplayFormat("{0}{1}{2}{3}{4}-{5}{6}{7}{8}{9}")
            .SetDeviceCodeLifetime(CodeLifetime)
            .SetUserCodeLifetime(CodeLifetime);

        options.AddEventHandler(DeviceIntervalHandler.Descriptor)
            .AddEventHandler(UserCodeNormalizationHandler.Descriptor)
            .AddEventHandler(UserCodeCheckedHandler.Descriptor)
            .AddEventHandler(UsedUserCodeHandler.Descriptor)
            .AddEventHandler(DevicePollingHandler.Descriptor);

        options.UseAspNetCore().EnableEndUserVerificationEndpointPassthrough();
        return options;
    }
}
