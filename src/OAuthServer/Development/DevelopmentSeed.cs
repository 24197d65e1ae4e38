using OAuthServer.Accounts;
using OAuthServer.Admin;
using OAuthServer.Data;
using OAuthServer.Protocol;

namespace OAuthServer.Development;

/// <summary>
/// Development only: applies migrations and makes sure a demo client and a demo user exist, then prints them,
/// so that <c>dotnet run</c> gives a server to sign in to with no set-up. Never runs in any other environment.
/// </summary>
internal sealed partial class DevelopmentSeed(IServiceProvider services, ILogger<DevelopmentSeed> logger) : IHostedService
{
    public const string DemoClientId = "demo-spa";
    public const string DemoRedirectUri = "http://127.0.0.1:8080/callback";
    public const string DemoUserEmail = "demo@example.com";

    // A fixed, printed password is fine for a Development-only account on a developer's machine.
    public const string DemoUserPassword = "local-dev-password-1234";

    /// <summary>The demo client, and the clients of the samples in samples/ (their README walks through them).</summary>
    private static readonly ClientRegistration[] Clients =
    [
        new()
        {
            ClientId = DemoClientId,
            DisplayName = "Demo SPA (Development only)",
            Kind = ClientKind.Public,
            RedirectUris = [DemoRedirectUri],
            PostLogoutRedirectUris = [DemoRedirectUri],
            Scopes = [.. StandardScopes.All, "api"],
            ImplicitConsent = true,
        },
        new()
        {
            // samples/SpaClient, served on http://127.0.0.1:5003
            ClientId = "sample-spa",
            DisplayName = "Sample SPA (Development only)",
            Kind = ClientKind.Public,
            RedirectUris = ["http://127.0.0.1:5003/callback"],
            PostLogoutRedirectUris = ["http://127.0.0.1:5003/"],
            Scopes = [.. StandardScopes.All, "api"],
            ImplicitConsent = true,
        },
        new()
        {
            // samples/NativeClient: RFC 8252 loopback redirect; any port is accepted for a native client.
            ClientId = "sample-native",
            DisplayName = "Sample native app (Development only)",
            Kind = ClientKind.Public,
            ApplicationType = ClientApplicationType.Native,
            RedirectUris = ["http://127.0.0.1/callback"],
            // Note: the sample's --device option signs in with RFC 8628 instead of the loopback redirect.
            AllowDeviceCode = true,
            Scopes = [.. StandardScopes.All, "api"],
            ImplicitConsent = true,
        },
    ];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);

        var registry = scope.ServiceProvider.GetRequiredService<ClientRegistry>();
        foreach (var client in Clients)
        {
            var outcome = await registry.EnsureAsync(client, cancellationToken: cancellationToken);
            if (!outcome.Succeeded)
            {
                throw new InvalidOperationException($"The demo client {client.ClientId} is invalid: " + string.Join(" ", outcome.Problems));
            }
        }

        var accounts = scope.ServiceProvider.GetRequiredService<UserAccounts>();
        if (await accounts.FindByEmailAsync(DemoUserEmail, cancellationToken) is null)
        {
            var created = await accounts.CreateAsync(DemoUserEmail, DemoUserPassword, Events.RequestOrigin.None, cancellationToken);
            if (!created.Succeeded)
            {
                throw new InvalidOperationException("The demo user is invalid: " + created.Problem.Message);
            }
        }

        LogDemo(logger, DemoClientId, DemoRedirectUri, DemoUserEmail, DemoUserPassword);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    // Note: the demo password is a published Development-only constant, not a secret, so printing it is intended.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Development demo: client_id {ClientId} (public, PKCE S256, redirect_uri {RedirectUri}); user {Email} with password {DemoPassword}. These exist only in Development.")]
    private static partial void LogDemo(ILogger logger, string clientId, string redirectUri, string email, string demoPassword);
}
