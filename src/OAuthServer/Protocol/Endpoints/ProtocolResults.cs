using Microsoft.AspNetCore.Authentication;
using OpenIddict.Server.AspNetCore;

namespace OAuthServer.Protocol;

/// <summary>The OAuth error answers the passthrough endpoints give; OpenIddict writes them in the protocol's shape.</summary>
internal static class ProtocolResults
{
    /// <summary>An OAuth error (RFC 6749 §4.1.2.1, §5.2) for OpenIddict to return to the client.</summary>
    public static IResult Forbid(string error, string description) => Results.Forbid(
        new AuthenticationProperties(new Dictionary<string, string?>
        {
            [OpenIddictServerAspNetCoreConstants.Properties.Error] = error,
            [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = description,
        }),
        [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
}
