using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Accounts;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;
using OpenIddict.Abstractions;

namespace OAuthServer.IntegrationTests.Pages;

/// <summary>Clients with a registered name, logo and home page, as the pages show them.</summary>
internal static class PageClients
{
    public static async Task<(string ClientId, string RedirectUri)> CreatePresentedClientAsync(
        this OAuthServerFactory server, string displayName, string? logoUri, string? clientUri, bool implicitConsent = true, string? redirectUri = null)
    {
        var clientId = "pages-" + Guid.NewGuid().ToString("N")[..12];
        redirectUri ??= $"http://127.0.0.1:8123/{clientId}/callback";
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId,
            DisplayName = displayName,
            Kind = ClientKind.Public,
            RedirectUris = [redirectUri],
            PostLogoutRedirectUris = [redirectUri],
            Scopes = ["openid", "profile", "email", "offline_access", "api"],
            ImplicitConsent = implicitConsent,
        });

        // Note: set through OpenIddict directly, as the client registration (admin API, CLI, RFC 7591) stores them.
        await server.WithScopeAsync(async services =>
        {
            var manager = services.GetRequiredService<IOpenIddictApplicationManager>();
            var application = await manager.FindByClientIdAsync(clientId) ?? throw new InvalidOperationException("client missing");
            var descriptor = new OpenIddictApplicationDescriptor();
            await manager.PopulateAsync(descriptor, application);
            if (logoUri is not null)
            {
                descriptor.Properties[OAuthServer.Admin.ClientPresentation.LogoUriProperty] = JsonSerializer.SerializeToElement(logoUri);
            }

            if (clientUri is not null)
            {
                descriptor.Properties[OAuthServer.Admin.ClientPresentation.ClientUriProperty] = JsonSerializer.SerializeToElement(clientUri);
            }

            await manager.UpdateAsync(application, descriptor);
            return true;
        });
        return (clientId, redirectUri);
    }
}
