using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;
using OpenIddict.Validation.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

internal static class AdminServiceCollectionExtensions
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
                document.Info.Description = "Needs an access token of this server with scope oauth.admin: a client_credentials token, or an administrator's token issued after a second factor within Admin:StepUpMaxAge. Errors are ProblemDetails.";
                return Task.CompletedTask;
            });
        });

        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminScopes.AdminPolicy, policy => policy
                .AddAuthenticationSchemes(OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme)
                .RequireAuthenticatedUser()
                .RequireAssertion(context => context.User.HasScope(AdminScopes.Admin))
                .AddRequirements(new AdministratorRequirement()))
            .AddPolicy(AdminScopes.RegisterPolicy, policy => policy
                .AddAuthenticationSchemes(OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme)
                .RequireAuthenticatedUser()
                .RequireAssertion(context => IsMachineTokenWithScope(context.User, AdminScopes.Register)));

        // Note: a person's admin token is checked against the database on every request (AdministratorStepUpHandler),
        // and refused with RFC 9470's challenge when a fresh sign-in with a second factor would let it through.
        builder.Services.AddScoped<IAuthorizationHandler, AdministratorStepUpHandler>();
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, AdministratorRefusalResultHandler>();
        builder.Services.AddScoped<ClientRegistry>();
        builder.Services.AddScoped<ScopeRegistry>();
        builder.Services.AddHostedService<AdminBootstrap>();
        builder.Services.AddScoped<Data.IPruningTask, AuditPruningTask>();
        return builder;
    }

    // Note: threat model 3.1: oauth.register is only honoured in a client_credentials token (its subject is the
    // client itself): a person's token never registers clients.
    private static bool IsMachineTokenWithScope(ClaimsPrincipal principal, string scope) =>
        principal.HasScope(scope)
        && principal.GetClaim(Claims.Subject) is { } subject
        && string.Equals(subject, principal.GetClaim(Claims.ClientId), StringComparison.Ordinal);
}
