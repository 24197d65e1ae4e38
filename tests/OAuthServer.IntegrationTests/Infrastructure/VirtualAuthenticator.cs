using System.Text.Json;
using Microsoft.Playwright;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// A platform authenticator inside Chromium through the DevTools Protocol's WebAuthn domain: CTAP2 over the internal
/// transport, with resident keys and a user who is always verified, so navigator.credentials works headless.
/// </summary>
public sealed class VirtualAuthenticator
{
    private readonly ICDPSession _cdp;

    private VirtualAuthenticator(ICDPSession cdp, string id)
    {
        _cdp = cdp;
        Id = id;
    }

    public string Id { get; }

    public static async Task<VirtualAuthenticator> AddAsync(IBrowserContext context, IPage page)
    {
        var cdp = await context.NewCDPSessionAsync(page);
        await cdp.SendAsync("WebAuthn.enable");
        var added = await cdp.SendAsync("WebAuthn.addVirtualAuthenticator", new Dictionary<string, object>
        {
            ["options"] = new Dictionary<string, object>
            {
                ["protocol"] = "ctap2",
                ["transport"] = "internal",
                ["hasResidentKey"] = true,
                ["hasUserVerification"] = true,
                ["isUserVerified"] = true,
                ["automaticPresenceSimulation"] = true,
            },
        });
        return new VirtualAuthenticator(cdp, added!.Value.GetProperty("authenticatorId").GetString()!);
    }

    /// <summary>The credentials the authenticator holds (WebAuthn.getCredentials).</summary>
    public async Task<JsonElement[]> CredentialsAsync()
    {
        var result = await _cdp.SendAsync("WebAuthn.getCredentials", new Dictionary<string, object> { ["authenticatorId"] = Id });
        return [.. result!.Value.GetProperty("credentials").EnumerateArray().Select(item => item.Clone())];
    }
}
