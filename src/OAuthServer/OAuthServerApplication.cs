using OAuthServer.Accounts;
using OAuthServer.Accounts.Recovery;
using OAuthServer.Admin;
using OAuthServer.Cli;
using OAuthServer.Data;
using OAuthServer.Development;
using OAuthServer.Events;
using OAuthServer.Html;
using OAuthServer.Keys;
using OAuthServer.Observability;
using OAuthServer.Protocol;
using OAuthServer.Protocol.Device;
using OAuthServer.Security;

namespace OAuthServer;

/// <summary>The table of contents of the server: every room registers and maps itself here.</summary>
internal static class OAuthServerApplication
{
    public static IHostApplicationBuilder AddOAuthServer(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddProblemDetails();

        builder.AddOAuthObservability();
        builder.AddOAuthData();

        // Note: registered first, because hosted services start in order and the Data Protection key ring (in
        // the database) is read by a hosted service of its own: the schema must exist before that.
        var database = builder.Configuration.GetSection(DatabaseOptions.Section).Get<DatabaseOptions>() ?? new();
        if (builder.Environment.IsDevelopment() && database.MigrateOnStartup && !CliCommands.IsCommand(Environment.GetCommandLineArgs().Skip(1).ToArray()))
        {
            builder.Services.AddHostedService<DevelopmentSeed>();
        }

        builder.AddOAuthKeys();
        builder.AddOAuthAccounts();
        Accounts.Factors.PasskeyServiceCollectionExtensions.AddOAuthPasskeys(builder);
        builder.AddOAuthPasswordRecovery();
        builder.AddOAuthProtocol();
        builder.AddOAuthBrowserSecurity();
        builder.AddOAuthPages();
        builder.AddOAuthRateLimiting();
        builder.AddOAuthRequestLimits();
        builder.AddOAuthHealth();
        builder.AddOAuthEvents();
        builder.AddOAuthPruning();
        builder.AddOAuthAdmin();
        builder.AddOAuthCrossOrigin();
        builder.AddOAuthDataProtection();

        return builder;
    }

    public static WebApplication MapOAuthServer(this WebApplication app)
    {
        // Note: first, so nothing else answers on a management URL and /metrics answers nowhere else.
        app.UseManagementUrls();
        // Note: ASP.NET Core's forwarded-headers middleware trusts every peer when its proxy lists are empty, so
        // it runs only when Server:KnownProxies names some; otherwise X-Forwarded-* is never believed.
        // (Read from configuration, not IOptions: start-up validation reports every bad setting at once, later.)
        if (app.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>()?.KnownProxies.Count > 0)
        {
            app.UseForwardedHeaders();
        }
        // Note: bad input must never surface as a stack trace; unhandled errors become a bare ProblemDetails 500.
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            // Note: a malformed request (bad form, missing antiforgery token) is the client's fault: 400, not 500.
            StatusCodeSelector = exception => exception switch
            {
                BadHttpRequestException badRequest => badRequest.StatusCode,
                Microsoft.AspNetCore.Antiforgery.AntiforgeryValidationException => StatusCodes.Status400BadRequest,
                _ => StatusCodes.Status500InternalServerError,
            },
            // A malformed request is not a server fault: it is answered, not logged as an error.
            SuppressDiagnosticsCallback = context => context.Exception is BadHttpRequestException or Microsoft.AspNetCore.Antiforgery.AntiforgeryValidationException,
        });
        app.UseStatusCodePages();
        if (!app.Environment.IsDevelopment())
        {
            app.UseHsts();
        }

        app.UseSecurityHeaders();
        // Note: before everything that may answer with a page (the rate limiter's 429, OpenIddict's error pages).
        app.UseOAuthLocalisation();
        // Note: before OpenIddict (which answers /connect/* inside UseAuthentication) and before the rate limiter,
        // so preflights are answered and error responses still carry the CORS headers a browser needs to read them.
        app.UseCors();
        // Note: the discovery documents and the JWKS are fixed bytes for everyone, and neither limiter nor input
        // check applies to a plain GET of them, so a cached answer leaves here (with its security and CORS
        // headers); a render, or a request with a query string, still runs everything below.
        app.UseMiddleware<WellKnownResponseCache>();
        app.UseMiddleware<MalformedRequestMiddleware>();
        app.UseMiddleware<RateLimitingMiddleware>();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();

        app.MapAuthorizationEndpoint();
        app.MapTokenEndpoint();
        app.MapUserInfoEndpoint();
        app.MapEndSessionEndpoint();
        app.MapDeviceVerificationEndpoint();
        AccountPages.Map(app);
        app.MapPasswordRecovery();
        AccountPage.Map(app);
        Accounts.Factors.PasskeyEndpoints.Map(app);
        SiteAssets.Map(app);
        AdminApi.Map(app);
        DynamicRegistration.Map(app);
        HealthEndpoints.Map(app);
        ObservabilityServiceCollectionExtensions.MapMetrics(app);
        app.MapGet("/", () => Results.Redirect(ProtocolPaths.OpenIdConfiguration)).ExcludeFromDescription();
        return app;
    }
}
