using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using OpenIddict.EntityFrameworkCore;
using OpenIddict.EntityFrameworkCore.Models;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>
/// OpenIddict's token store, writing a new refresh token's row once instead of twice.
/// </summary>
/// <remarks>
/// Note: OpenIddict creates a token's row before it builds the token (the row's id goes into it), then, for a
/// reference token (our refresh tokens: only their hash is stored, threat model 2.4), updates the same row with the
/// payload and the reference id: an INSERT and an UPDATE, each its own commit, on every code exchange and refresh.
/// Here the row is only added to the request's context at creation (EF assigns its id then) and inserted, complete,
/// by that update. OpenIddict always follows a reference token's creation with that update before the token leaves
/// the server; if the request fails in between, neither the row nor the token ever exist.
/// </remarks>
internal sealed class DeferredRefreshTokenStore(
    IMemoryCache cache, IOpenIddictEntityFrameworkCoreContext context, IOptionsMonitor<OpenIddictEntityFrameworkCoreOptions> options)
    : OpenIddictEntityFrameworkCoreTokenStore<OpenIddictEntityFrameworkCoreToken, OpenIddictEntityFrameworkCoreApplication, OpenIddictEntityFrameworkCoreAuthorization, string>(cache, context, options)
{
    public override async ValueTask CreateAsync(OpenIddictEntityFrameworkCoreToken token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Type != TokenTypeIdentifiers.RefreshToken || token.ReferenceId is not null)
        {
            await base.CreateAsync(token, cancellationToken);
            return;
        }

        var db = await Context.GetDbContextAsync(cancellationToken);
        db.Add(token);
    }

    public override async ValueTask UpdateAsync(OpenIddictEntityFrameworkCoreToken token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        var db = await Context.GetDbContextAsync(cancellationToken);
        if (db.Entry(token).State == EntityState.Added)
        {
            // Note: the row was never written, so there is no concurrency token to check: this is its INSERT.
            await db.SaveChangesAsync(cancellationToken);
            return;
        }

        await base.UpdateAsync(token, cancellationToken);
    }
}
