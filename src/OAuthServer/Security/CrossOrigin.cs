using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OAuthServer.Protocol;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Security;

/// <summary>
/// The browser origins allowed to call the token, revocation and userinfo endpoints: exactly the origins of the
/// redirect URIs of registered single-page apps (public web clients). Derived from the registrations, cached,
/// dropped at once on this node when a client changes, and re-read at least every <see cref="Lifetime"/>. An
/// origin not in the list re-reads it too, at most once per <see cref="MinReloadInterval"/>, so a SPA registered
/// at another node works at once while a flood of made-up origins can't hammer the database.
/// </summary>
internal sealed class AllowedOrigins(IServiceScopeFactory scopes, TimeProvider clock) : IDisposable
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan MinReloadInterval = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim _refresh = new(1, 1);
    private volatile Snapshot? _current;

    public void Invalidate() => _current = null;

    public void Dispose() => _refresh.Dispose();

    /// <summary>The CORS policy for the SPA-facing endpoints, built once per refresh.</summary>
    public async ValueTask<CorsPolicy> GetPolicyAsync(string? origin, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (_current is { } fresh && fresh.IsGoodFor(origin, now))
        {
            return fresh.Policy;
        }

        await _refresh.WaitAsync(cancellationToken);
        try
        {
            if (_current is { } refreshed && refreshed.IsGoodFor(origin, now))
            {
                return refreshed.Policy;
            }

            var origins = await ReadAsync(cancellationToken);
            var policy = new CorsPolicyBuilder()
                .WithOrigins([.. origins])
                .WithMethods(HttpMethods.Get, HttpMethods.Post)
                .WithHeaders("Authorization", "Content-Type", "DPoP")
                // Note: RFC 9449 §8/§9: a browser client must read the server's nonce and the DPoP challenge.
                .WithExposedHeaders("DPoP-Nonce", "WWW-Authenticate")
                // Note: SPAs hold tokens in memory and send no cookies here, so credentials are never allowed.
                .DisallowCredentials()
                .SetPreflightMaxAge(TimeSpan.FromMinutes(10))
                .Build();
            _current = new Snapshot(policy, origins, now, now + Lifetime);
            return policy;
        }
        finally
        {
            _refresh.Release();
        }
    }

    private async Task<HashSet<string>> ReadAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var applications = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        var origins = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        await foreach (var application in applications.ListAsync(count: null, offset: null, cancellationToken))
        {
            if (!await applications.HasClientTypeAsync(application, ClientTypes.Public, cancellationToken)
                || await applications.HasApplicationTypeAsync(application, ApplicationTypes.Native, cancellationToken))
            {
                continue;
            }

            foreach (var uri in await applications.GetRedirectUrisAsync(application, cancellationToken))
            {
                if (Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && parsed.Scheme is "https" or "http")
                {
                    origins.Add(parsed.GetLeftPart(UriPartial.Authority));
                }
            }
        }

        return origins;
    }

    private sealed record Snapshot(CorsPolicy Policy, HashSet<string> Origins, DateTimeOffset LoadedAt, DateTimeOffset ExpiresAt)
    {
        public bool IsGoodFor(string? origin, DateTimeOffset now) =>
            ExpiresAt > now && (string.IsNullOrEmpty(origin) || Origins.Contains(origin) || now - LoadedAt < MinReloadInterval);
    }
}

/// <summary>
/// Cross-origin rules by path (threat model: CORS): discovery and JWKS are public documents any origin may read
/// without credentials; the token, revocation and userinfo endpoints allow the registered SPA origins only;
/// nothing else is readable cross-origin.
/// </summary>
internal sealed class CrossOriginPolicies(AllowedOrigins origins) : ICorsPolicyProvider
{
    private static readonly CorsPolicy PublicDocuments = new CorsPolicyBuilder()
        .AllowAnyOrigin().WithMethods(HttpMethods.Get).DisallowCredentials().SetPreflightMaxAge(TimeSpan.FromHours(1)).Build();

    // Note: by the request's endpoint (ProtocolPaths), so every spelling OpenIddict serves gets the same rules; a
    // spelling nothing serves only gets CORS headers on its 404.
    public async Task<CorsPolicy?> GetPolicyAsync(HttpContext context, string? policyName) => ProtocolPaths.EndpointOf(context) switch
    {
        { } endpoint when endpoint.Has(EndpointTraits.PublicDocument) => PublicDocuments,
        { } endpoint when endpoint.Has(EndpointTraits.SinglePageApps) =>
            await origins.GetPolicyAsync(context.Request.Headers.Origin.ToString(), context.RequestAborted),
        _ => null,
    };
}

internal static class CrossOriginServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthCrossOrigin(this IHostApplicationBuilder builder)
    {
        builder.Services.AddCors();
        builder.Services.AddSingleton<AllowedOrigins>();
        builder.Services.Replace(ServiceDescriptor.Transient<ICorsPolicyProvider, CrossOriginPolicies>());
        return builder;
    }
}
