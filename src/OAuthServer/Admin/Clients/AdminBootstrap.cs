using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;

namespace OAuthServer.Admin;

/// <summary>
/// Registers the bootstrap client <c>admin-cli</c> (confidential, client_credentials, scope <c>oauth.admin</c>)
/// from configuration at start-up through <see cref="ClientRegistry"/>, or gives it the configured secret, and
/// makes sure the privileged scopes exist. Without a configured secret there is no admin client, and the admin API
/// answers 401 to everyone. If the database is not reachable yet, it tries again until it is, without holding up
/// start-up.
/// </summary>
internal sealed partial class AdminBootstrap(IServiceProvider services, IOptions<AdminOptions> options, ILogger<AdminBootstrap> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await EnsureAsync(stoppingToken);
                return;
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                LogRetry(logger, attempt, exception.GetBaseException().Message);
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, attempt * 2)), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task EnsureAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var scopes = scope.ServiceProvider.GetRequiredService<IOpenIddictScopeManager>();
        foreach (var name in new[] { AdminScopes.Admin, AdminScopes.Register })
        {
            if (await scopes.FindByNameAsync(name, cancellationToken) is null)
            {
                await scopes.CreateAsync(new OpenIddictScopeDescriptor { Name = name, Resources = { AdminScopes.Audience } }, cancellationToken);
            }
        }

        if (options.Value.ResolveBootstrapSecret() is not { Length: > 0 } secret)
        {
            LogNoAdminClient(logger);
            return;
        }

        scope.ServiceProvider.GetRequiredService<AuditScope>().Begin("bootstrap", action: null, ip: null);
        // Note: registered like any other client (same rules, client.created, audit row); an unchanged
        // configured secret writes nothing, so a restart doesn't rewrite the client or its audit trail.
        var outcome = await scope.ServiceProvider.GetRequiredService<ClientRegistry>().EnsureAsync(new ClientRegistration
        {
            ClientId = AdminOptions.BootstrapClientId,
            DisplayName = "Admin CLI (bootstrap)",
            Kind = ClientKind.Confidential,
            Secret = secret,
            AllowClientCredentials = true,
            Scopes = [AdminScopes.Admin],
        }, Events.RequestOrigin.None, cancellationToken);
        if (!outcome.Succeeded)
        {
            throw new InvalidOperationException($"The admin bootstrap client is invalid: {string.Join(" ", outcome.Problems)}");
        }

        LogEnsured(logger, AdminOptions.BootstrapClientId);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "No Admin:BootstrapClientSecret(File) is set: there is no admin client, and /admin answers 401")]
    private static partial void LogNoAdminClient(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Admin bootstrap client {ClientId} is registered with the configured secret")]
    private static partial void LogEnsured(ILogger logger, string clientId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Admin bootstrap attempt {Attempt} failed, retrying: {Reason}")]
    private static partial void LogRetry(ILogger logger, int attempt, string reason);
}
