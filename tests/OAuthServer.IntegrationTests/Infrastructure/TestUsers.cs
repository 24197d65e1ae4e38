using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Accounts;
using OAuthServer.Admin;

namespace OAuthServer.IntegrationTests.Infrastructure;

internal static class TestData
{
    public const string Password = "a-long-enough-test-password";

    public static string NewEmail() => $"user-{Guid.NewGuid():N}@example.com";

    public static async Task<string> CreateUserAsync(this OAuthServerFactory server, string? email = null)
    {
        email ??= NewEmail();
        var created = await server.WithScopeAsync(services => services.GetRequiredService<UserAccounts>().CreateAsync(email, Password, OAuthServer.Events.RequestOrigin.None));
        created.Problems.Should().BeEmpty();
        return created.Value.Email;
    }

    /// <summary>A first-party public client (implicit consent) with a loopback redirect URI of its own.</summary>
    public static async Task<(string ClientId, string RedirectUri)> CreatePublicClientAsync(this OAuthServerFactory server, bool implicitConsent = true)
    {
        var clientId = "spa-" + Guid.NewGuid().ToString("N")[..12];
        var redirectUri = $"http://127.0.0.1:8123/{clientId}/callback";
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId,
            Kind = ClientKind.Public,
            RedirectUris = [redirectUri],
            PostLogoutRedirectUris = [redirectUri],
            Scopes = ["openid", "profile", "email", "offline_access", "api"],
            ImplicitConsent = implicitConsent,
        });
        return (clientId, redirectUri);
    }
}
