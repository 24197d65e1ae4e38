using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace ResourceApi;

/// <summary>What the API needs to know about the authorization server: nothing but its issuer URL.</summary>
internal sealed class ResourceApiOptions
{
    public const string Section = "ResourceApi";

    /// <summary>The issuer; discovery and JWKS are read from it.</summary>
    public Uri? Issuer { get; set; }

    /// <summary>The <c>aud</c> our access tokens must carry: the API scope's resource.</summary>
    public string Audience { get; set; } = "api";

    /// <summary>The scope a caller needs; a valid token without it is answered 403.</summary>
    public string RequiredScope { get; set; } = "api";

    /// <summary>Browser origins (the SPA) allowed to call the API cross-origin.</summary>
    public IList<string> AllowedOrigins { get; } = [];

    /// <summary>Tolerance for clocks that disagree. JwtBearer's default of 5 minutes is long for 10-minute tokens.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>http is only acceptable when the issuer is on this machine (a development server).</summary>
    public bool IssuerIsLoopbackHttp => Issuer is { Scheme: "http", IsLoopback: true };
}

internal sealed class ResourceApiOptionsValidator : IValidateOptions<ResourceApiOptions>
{
    public ValidateOptionsResult Validate(string? name, ResourceApiOptions options)
    {
        var failures = new List<string>();
        if (options.Issuer is not { IsAbsoluteUri: true } issuer || (issuer.Scheme != Uri.UriSchemeHttps && !options.IssuerIsLoopbackHttp))
        {
            failures.Add("ResourceApi:Issuer must be the authorization server's https URL (http only on 127.0.0.1, [::1] or localhost).");
        }

        if (string.IsNullOrWhiteSpace(options.Audience))
        {
            failures.Add("ResourceApi:Audience is required.");
        }

        if (string.IsNullOrWhiteSpace(options.RequiredScope))
        {
            failures.Add("ResourceApi:RequiredScope is required.");
        }

        if (options.AllowedOrigins.Any(origin => origin == "*" || !Uri.TryCreate(origin, UriKind.Absolute, out _)))
        {
            failures.Add("ResourceApi:AllowedOrigins must list exact origins such as http://127.0.0.1:5003, never '*'.");
        }

        return failures.Count > 0 ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}

internal static class ResourceApiApplication
{
    private const string RequiredScopePolicy = "required-scope";
    private const string SpaCorsPolicy = "spa";

    public static IHostApplicationBuilder AddResourceApi(this IHostApplicationBuilder builder)
    {
        var settings = builder.Configuration.GetSection(ResourceApiOptions.Section).Get<ResourceApiOptions>() ?? new();
        builder.Services.AddOptions<ResourceApiOptions>().BindConfiguration(ResourceApiOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ResourceApiOptions>, ResourceApiOptionsValidator>();

        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(options =>
            {
                // Note: the issuer is all we configure: JwtBearer reads {issuer}/.well-known/openid-configuration,
                // takes the issuer and the JWKS from it, and refreshes the keys when a token names an unknown kid
                // (key rotation), so the API never holds a copy of the server's keys.
                options.Authority = settings.Issuer?.ToString();
                options.Audience = settings.Audience;
                options.RequireHttpsMetadata = !settings.IssuerIsLoopbackHttp;
                // Keep the JWT claim names (sub, scope, client_id) instead of .NET's long URIs.
                options.MapInboundClaims = false;

                var validation = options.TokenValidationParameters;
                // Note: RFC 9068 §4: an access token is typed at+jwt; an ID token (typ JWT) sent as a bearer token
                // must be refused, or any client that got an ID token for this user could call the API.
                validation.ValidTypes = ["at+jwt"];
                validation.ValidAlgorithms = ["RS256", "PS256", "ES256"];
                validation.ValidateIssuer = true;
                validation.ValidateAudience = true;
                validation.ValidateLifetime = true;
                validation.RequireExpirationTime = true;
                validation.RequireSignedTokens = true;
                validation.ClockSkew = settings.ClockSkew;

                options.Events = new JwtBearerEvents
                {
                    // Note: RFC 9449 §7: DPoP-bound tokens come with the DPoP scheme and a proof (DpopProofs).
                    OnMessageReceived = DpopProofs.ReadToken,
                    OnTokenValidated = context => context.HttpContext.RequestServices.GetRequiredService<DpopProofs>().CheckAsync(context),
                    OnChallenge = DpopProofs.ChallengeAsync,
                    // Note: RFC 6750 §3.1: a valid token without the scope is 403 insufficient_scope, and says which.
                    OnForbidden = context =>
                    {
                        context.Response.Headers.Append(HeaderNames.WWWAuthenticate,
                            $"Bearer error=\"insufficient_scope\", scope=\"{settings.RequiredScope}\"");
                        return Task.CompletedTask;
                    },
                };
            });

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<DpopProofs>();

        builder.Services.AddAuthorizationBuilder().AddPolicy(RequiredScopePolicy, policy => policy
            .RequireAuthenticatedUser()
            .RequireAssertion(context => Scopes(context.User).Contains(settings.RequiredScope)));

        // Note: exact origins, no credentials: the SPA sends its token in the Authorization header, not a cookie.
        builder.Services.AddCors(options => options.AddPolicy(SpaCorsPolicy, policy => policy
            .WithOrigins([.. settings.AllowedOrigins])
            .WithMethods(HttpMethods.Get)
            .WithHeaders(HeaderNames.Authorization, DpopProofs.Scheme)
            .WithExposedHeaders(HeaderNames.WWWAuthenticate)
            .SetPreflightMaxAge(TimeSpan.FromMinutes(10))));

        return builder;
    }

    public static WebApplication MapResourceApi(this WebApplication app)
    {
        app.UseCors();
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapGet("/health", () => Results.Text("ok")).WithName("Health");
        app.MapGet("/api/hello", Hello)
            .RequireAuthorization(RequiredScopePolicy)
            .RequireCors(SpaCorsPolicy)
            .WithName("Hello").WithSummary("Answers a caller whose access token is valid and carries the required scope.");
        return app;
    }

    private static IResult Hello(ClaimsPrincipal user)
    {
        var subject = user.FindFirstValue("sub");
        var expires = long.TryParse(user.FindFirstValue("exp"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var exp)
            ? DateTimeOffset.FromUnixTimeSeconds(exp)
            : (DateTimeOffset?)null;
        return Results.Ok(new
        {
            message = $"Hello from the resource API, {user.FindFirstValue("email") ?? subject}.",
            subject,
            client_id = user.FindFirstValue("client_id"),
            scope = string.Join(' ', Scopes(user)),
            expires_at = expires,
        });
    }

    /// <summary>RFC 9068 §2.2.3: scope is one space-separated string; some servers send one claim per scope.</summary>
    private static HashSet<string> Scopes(ClaimsPrincipal user) =>
        user.FindAll("scope").SelectMany(claim => claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToHashSet(StringComparer.Ordinal);
}
