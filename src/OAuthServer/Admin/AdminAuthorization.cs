using System.Security.Claims;
using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;
using OpenIddict.Validation.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>The privileged scopes of our own APIs and the resource (audience) their tokens are issued for.</summary>
internal static class AdminScopes
{
    public const string Admin = "oauth.admin";

    /// <summary>RFC 7591's initial access token: a bearer token with this scope may register clients.</summary>
    public const string Register = "oauth.register";

    /// <summary>The <c>aud</c> of tokens for the admin API and the registration endpoint.</summary>
    public const string Audience = "oauthserver";

    public const string AdminPolicy = "oauth.admin";

    public const string RegisterPolicy = "oauth.register";

    /// <summary>Scopes that grant power over this server: machine clients only, never user sign-ins.</summary>
    public static bool IsPrivileged(string scope) => scope is Admin or Register;
}

internal sealed class AdminOptions
{
    public const string Section = "Admin";

    public const string BootstrapClientId = "admin-cli";

    /// <summary>The secret of the bootstrap client <c>admin-cli</c>; prefer <see cref="BootstrapClientSecretFile"/>.</summary>
    public string? BootstrapClientSecret { get; set; }

    /// <summary>A file (a mounted secret) holding the bootstrap client's secret.</summary>
    public string? BootstrapClientSecretFile { get; set; }

    /// <summary>RFC 7591 dynamic client registration at <c>/connect/register</c>; off unless enabled.</summary>
    public bool DynamicRegistrationEnabled { get; set; }

    /// <summary>
    /// The API scopes a dynamically registered client may ask for (besides openid, profile, email and
    /// offline_access); each still needs the user's consent. Empty by default: API access is granted through the
    /// admin API.
    /// </summary>
    public List<string> DynamicRegistrationScopes { get; set; } = [];

    public string? ResolveBootstrapSecret() =>
        !string.IsNullOrEmpty(BootstrapClientSecretFile) ? File.ReadAllText(BootstrapClientSecretFile).Trim() : BootstrapClientSecret;
}

internal sealed class AdminOptionsValidator : IValidateOptions<AdminOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminOptions options)
    {
        if (!string.IsNullOrEmpty(options.BootstrapClientSecret) && !string.IsNullOrEmpty(options.BootstrapClientSecretFile))
        {
            return ValidateOptionsResult.Fail("Set Admin:BootstrapClientSecret or Admin:BootstrapClientSecretFile, not both.");
        }

        if (!string.IsNullOrEmpty(options.BootstrapClientSecretFile) && !File.Exists(options.BootstrapClientSecretFile))
        {
            return ValidateOptionsResult.Fail($"Admin:BootstrapClientSecretFile '{options.BootstrapClientSecretFile}' does not exist.");
        }

        // Note: the admin secret guards everything; it must be as strong as a server-generated one (256 bits).
        if (options.ResolveBootstrapSecret() is { Length: < 32 })
        {
            return ValidateOptionsResult.Fail("The admin bootstrap client secret must be at least 32 characters (256 bits of randomness).");
        }

        // Note: threat model 3.1: registration never hands out power over this server.
        if (options.DynamicRegistrationScopes.FirstOrDefault(scope => AdminScopes.IsPrivileged(scope) || !ClientRegistry.IsScopeToken(scope)) is { } bad)
        {
            return ValidateOptionsResult.Fail($"Admin:DynamicRegistrationScopes can't hold '{bad}': list API scopes (RFC 6749 §3.3 scope tokens), never oauth.admin or oauth.register.");
        }

        return ValidateOptionsResult.Success;
    }
}

internal static class AdminAuthorizationServiceCollectionExtensions
{
    /// <summary>
    /// Bearer-token authorization for <c>/admin/*</c> and <c>/connect/register</c>: OpenIddict's validation stack
    /// on this server's own keys, checking signature, issuer, audience, lifetime and that the token entry is
    /// still valid in the database (a revoked admin token stops working at once).
    /// </summary>
    public static IHostApplicationBuilder AddOAuthAdmin(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>();

        builder.Services.AddOpenIddict().AddValidation(options =>
        {
            // Note: UseLocalServer must come first: it copies the server's settings, and the calls after it refine them.
            options.UseLocalServer();
            options.AddAudiences(AdminScopes.Audience);
            options.EnableTokenEntryValidation();
            options.EnableAuthorizationEntryValidation();
            options.UseAspNetCore();
        });
        builder.Services.AddOpenIddict().AddServer(options => options.AddEventHandler(RegistrationEndpointMetadataHandler.Descriptor));

        // Note: the OpenAPI document describes /admin only and is itself behind the admin policy.
        builder.Services.AddOpenApi(AdminApi.DocumentName, options =>
        {
            options.ShouldInclude = description => description.RelativePath?.StartsWith("admin/", StringComparison.Ordinal) == true;
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "OAuthServer admin API";
                document.Info.Description = "Needs a client_credentials access token of this server with scope oauth.admin. Errors are ProblemDetails.";
                return Task.CompletedTask;
            });
        });

        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminScopes.AdminPolicy, policy => policy
                .AddAuthenticationSchemes(OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme)
                .RequireAuthenticatedUser()
                .RequireAssertion(context => IsMachineTokenWithScope(context.User, AdminScopes.Admin)))
            .AddPolicy(AdminScopes.RegisterPolicy, policy => policy
                .AddAuthenticationSchemes(OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme)
                .RequireAuthenticatedUser()
                .RequireAssertion(context => IsMachineTokenWithScope(context.User, AdminScopes.Register)));

        builder.Services.AddScoped<ClientRegistry>();
        builder.Services.AddHostedService<AdminBootstrap>();
        builder.Services.AddScoped<Data.IPruningTask, AuditPruningTask>();
        return builder;
    }

    // Note: threat model 3.1: the privileged scopes are only honoured in a client_credentials token (its subject
    // is the client itself), so a user who somehow signed in through a client holding one gains nothing.
    private static bool IsMachineTokenWithScope(ClaimsPrincipal principal, string scope) =>
        principal.HasScope(scope)
        && principal.GetClaim(Claims.Subject) is { } subject
        && string.Equals(subject, principal.GetClaim(Claims.ClientId), StringComparison.Ordinal);
}

/// <summary>
/// Creates or updates the bootstrap client <c>admin-cli</c> (confidential, client_credentials, scope
/// <c>oauth.admin</c>) from configuration at start-up, and makes sure the privileged scopes exist. Without a
/// configured secret there is no admin client, and the admin API answers 401 to everyone. If the database is
/// not reachable yet, it tries again until it is, without holding up start-up.
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

        scope.ServiceProvider.GetRequiredService<AuditScope>().Begin("bootstrap", "client.bootstrap", ip: null);
        var applications = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = AdminOptions.BootstrapClientId,
            ClientSecret = secret,
            DisplayName = "Admin CLI (bootstrap)",
            ClientType = ClientTypes.Confidential,
            Permissions =
            {
                Permissions.Endpoints.Token,
                Permissions.Endpoints.Revocation,
                Permissions.GrantTypes.ClientCredentials,
                Permissions.Prefixes.Scope + AdminScopes.Admin,
            },
        };

        var existing = await applications.FindByClientIdAsync(AdminOptions.BootstrapClientId, cancellationToken);
        if (existing is null)
        {
            await applications.CreateAsync(descriptor, cancellationToken);
            LogCreated(logger, AdminOptions.BootstrapClientId);
        }
        else if (!await applications.ValidateClientSecretAsync(existing, secret, cancellationToken))
        {
            // Note: a changed configured secret replaces the stored one; an unchanged one is left alone, so a
            // restart doesn't rewrite the client (or its audit trail) every time.
            await applications.UpdateAsync(existing, descriptor, cancellationToken);
            LogUpdated(logger, AdminOptions.BootstrapClientId);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "No Admin:BootstrapClientSecret(File) is set: there is no admin client, and /admin answers 401")]
    private static partial void LogNoAdminClient(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Admin bootstrap client {ClientId} created")]
    private static partial void LogCreated(ILogger logger, string clientId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Admin bootstrap client {ClientId} updated with the configured secret")]
    private static partial void LogUpdated(ILogger logger, string clientId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Admin bootstrap attempt {Attempt} failed, retrying: {Reason}")]
    private static partial void LogRetry(ILogger logger, int attempt, string reason);
}
