using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using OpenIddict.EntityFrameworkCore;
using OpenIddict.EntityFrameworkCore.Models;

namespace OAuthServer.Protocol.Catalog;

/// <summary>
/// OpenIddict's client store, answering the protocol endpoints' client lookups from <see cref="CatalogCache"/>.
/// </summary>
/// <remarks>
/// Note: only requests to the protocol endpoints use the cache (<see cref="CatalogReads"/>); administration, the CLI
/// and dynamic registration, which change clients, always read the database. A cached client is handed out as a
/// fresh copy attached to the request's context, exactly as if it had been read: OpenIddict links the new token
/// rows to it without reading it again, and an update would still be checked against its concurrency token.
/// </remarks>
internal sealed class CatalogApplicationStore(
    IMemoryCache cache, IOpenIddictEntityFrameworkCoreContext context, IOptionsMonitor<OpenIddictEntityFrameworkCoreOptions> options,
    CatalogCache catalog, CatalogReads reads)
    : OpenIddictEntityFrameworkCoreApplicationStore<OpenIddictEntityFrameworkCoreApplication, OpenIddictEntityFrameworkCoreAuthorization, OpenIddictEntityFrameworkCoreToken, string>(cache, context, options)
{
    public override async ValueTask<OpenIddictEntityFrameworkCoreApplication?> FindByClientIdAsync(string identifier, CancellationToken cancellationToken)
    {
        if (!reads.MayUseCache)
        {
            return await base.FindByClientIdAsync(identifier, cancellationToken);
        }

        // Note: OpenIddict looks the client up again in nearly every handler of a request (client id, type, secret,
        // each permission, the token entry); after the first answer the request's own tracked instance is the answer,
        // as a tracked read would resolve to it, and no further copy is made.
        if (reads.AttachedClient(identifier) is { } attached)
        {
            return attached;
        }

        var db = await Context.GetDbContextAsync(cancellationToken);
        if (catalog.TryGetClient(identifier, out var copy))
        {
            return reads.Attach(db, copy);
        }

        var generation = catalog.CurrentGeneration;
        var found = await base.FindByClientIdAsync(identifier, cancellationToken);
        if (found is not null)
        {
            catalog.RememberClient(generation, found);
            reads.Remember(found);
        }

        return found;
    }
}

/// <summary>OpenIddict's scope store, answering the protocol endpoints' scope lookups from <see cref="CatalogCache"/>.</summary>
internal sealed class CatalogScopeStore(
    IMemoryCache cache, IOpenIddictEntityFrameworkCoreContext context, IOptionsMonitor<OpenIddictEntityFrameworkCoreOptions> options,
    CatalogCache catalog, CatalogReads reads)
    : OpenIddictEntityFrameworkCoreScopeStore<OpenIddictEntityFrameworkCoreScope, string>(cache, context, options)
{
    public override IAsyncEnumerable<OpenIddictEntityFrameworkCoreScope> FindByNamesAsync(ImmutableArray<string> names, CancellationToken cancellationToken) =>
        reads.MayUseCache ? FromCatalogAsync(names, cancellationToken) : base.FindByNamesAsync(names, cancellationToken);

    private async IAsyncEnumerable<OpenIddictEntityFrameworkCoreScope> FromCatalogAsync(ImmutableArray<string> names, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var db = await Context.GetDbContextAsync(cancellationToken);
        var scopes = catalog.Scopes;
        if (scopes is null)
        {
            // Note: the scopes are few and read together, so a miss loads them all (untracked: only copies are
            // handed out) and one generation of the catalog answers every later lookup.
            var generation = catalog.CurrentGeneration;
            var all = await db.Set<OpenIddictEntityFrameworkCoreScope>().AsNoTracking().ToListAsync(cancellationToken);
            scopes = catalog.RememberScopes(generation, all);
        }

        // Note: a scope is only read on these endpoints (its resources, its existence) and nothing links to it, so its
        // copy stays untracked, as a no-tracking read would return it: attaching it would cost a change-tracker entry.
        foreach (var name in names.Distinct(StringComparer.Ordinal))
        {
            if (scopes.TryGetValue(name, out var scope))
            {
                yield return CatalogCache.Copy(scope);
            }
        }
    }
}

/// <summary>Whether this request may read clients and scopes from <see cref="CatalogCache"/>.</summary>
internal sealed class CatalogReads(IHttpContextAccessor accessor)
{
    /// <summary>
    /// True for requests to the endpoints of <see cref="ProtocolPaths.All"/> (token, authorize, PAR, introspection,
    /// revocation, userinfo, end session, the login page), which only read clients and scopes. Not for dynamic
    /// registration (not in the table), the admin API, the CLI or background work: no request to one of those
    /// endpoints, no cache.
    /// </summary>
    public bool MayUseCache =>
        accessor.HttpContext is { } context
        && ProtocolPaths.EndpointOf(context) is { } endpoint
        && !ReferenceEquals(endpoint, ProtocolPaths.OtherProtocolPath);

    // The clients this request's context tracks, by client id.
    private readonly Dictionary<string, OpenIddictEntityFrameworkCoreApplication> _clients = new(StringComparer.Ordinal);

    /// <summary>The client this request already looked up, as its context tracks it, or null.</summary>
    public OpenIddictEntityFrameworkCoreApplication? AttachedClient(string clientId) => _clients.GetValueOrDefault(clientId);

    /// <summary>
    /// Attaches a copy of a cached client to this request's context as unchanged (as if just read) and returns it, or
    /// returns the instance the context already tracks with that key.
    /// </summary>
    public OpenIddictEntityFrameworkCoreApplication Attach(DbContext db, OpenIddictEntityFrameworkCoreApplication copy)
    {
        ArgumentNullException.ThrowIfNull(copy.Id, "A cached client has no id.");
        var attached = copy;
        try
        {
            db.Entry(copy).State = EntityState.Unchanged;
        }
        catch (InvalidOperationException)
        {
            // The context read this row itself (outside the cache) earlier in the request: keep its instance.
            attached = Data.TrackedEntries.Of<OpenIddictEntityFrameworkCoreApplication>(db).First(tracked => tracked.Entity.Id == copy.Id).Entity;
        }

        Remember(attached);
        return attached;
    }

    /// <summary>Records a client this request's context tracks (read from the cache or the database).</summary>
    public void Remember(OpenIddictEntityFrameworkCoreApplication tracked)
    {
        if (tracked.ClientId is { } clientId)
        {
            _clients[clientId] = tracked;
        }
    }
}
