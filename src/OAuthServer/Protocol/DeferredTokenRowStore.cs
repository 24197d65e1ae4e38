using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using OpenIddict.EntityFrameworkCore;
using OpenIddict.EntityFrameworkCore.Models;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// OpenIddict's token store, writing the rows of one token response together: each row once, all in one SaveChanges.
/// </summary>
/// <remarks>
/// Note: OpenIddict creates a token's row before it builds the token (the row's id goes into it), each creation its
/// own SaveChanges and commit. For a reference token (our refresh tokens: only their hash is stored, threat model
/// 2.4, and authorization codes) it then updates the same row with the payload and the reference id: an INSERT and
/// an UPDATE. A code exchange or a refresh wrote three statements in three commits (access-token INSERT,
/// refresh-token INSERT and UPDATE), an authorization response three (the authorization, the code's INSERT and
/// UPDATE). Here the rows of access tokens, new refresh tokens and authorization codes are only added to the
/// request's context at creation (EF assigns their ids then) and inserted, complete, by the next SaveChanges: the
/// reference token's update, which OpenIddict always makes before the token leaves the server, or
/// <see cref="SaveHandler"/> at the end of the sign-in when the response has no reference token
/// (client_credentials). The sign-in's ad-hoc authorization waits for the same save
/// (<see cref="DeferredAuthorizationRowStore"/>). On PostgreSQL those rows share a batch and a commit with the new rows
/// of concurrent requests (<see cref="Data.GroupCommit"/>). Either way every row is committed before any token is
/// returned; if the request fails before that, neither the rows nor the tokens ever exist.
/// </remarks>
internal sealed class DeferredTokenRowStore(
    IMemoryCache cache, IOpenIddictEntityFrameworkCoreContext context, IOptionsMonitor<OpenIddictEntityFrameworkCoreOptions> options,
    Data.GroupCommit inserts)
    : OpenIddictEntityFrameworkCoreTokenStore<OpenIddictEntityFrameworkCoreToken, OpenIddictEntityFrameworkCoreApplication, OpenIddictEntityFrameworkCoreAuthorization, string>(cache, context, options)
{
    public override async ValueTask CreateAsync(OpenIddictEntityFrameworkCoreToken token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.ReferenceId is not null
            || token.Type is not (TokenTypeIdentifiers.AccessToken or TokenTypeIdentifiers.RefreshToken or TokenTypeIdentifiers.Private.AuthorizationCode))
        {
            await base.CreateAsync(token, cancellationToken);
            return;
        }

        // Note: only this entity is marked: its client and authorization are tracked already (OpenIddict found them
        // through the context), so the walk of the whole graph that DbContext.Add makes would find nothing new.
        var db = await Context.GetDbContextAsync(cancellationToken);
        db.Entry(token).State = EntityState.Added;
    }

    // Note: OpenIddict calls this for every new token, also without an authorization (client_credentials); for a token
    // the context doesn't track there is nothing to unlink, which is where OpenIddict's own version returns too, but
    // only after building the reference's expression tree (2 % of a client_credentials request's CPU, issue 15).
    public override async ValueTask SetAuthorizationIdAsync(OpenIddictEntityFrameworkCoreToken token, string? identifier, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (string.IsNullOrEmpty(identifier) && token.Authorization is null
            && (await Context.GetDbContextAsync(cancellationToken)).Entry(token).State == EntityState.Detached)
        {
            return;
        }

        await base.SetAuthorizationIdAsync(token, identifier, cancellationToken);
    }

    // Note: OpenIddict looks for a tracked token before it queries; its Entries() would first scan every tracked
    // entity for changes, which a lookup by id never needs.
    public override async ValueTask<OpenIddictEntityFrameworkCoreToken?> FindByIdAsync(string identifier, CancellationToken cancellationToken)
    {
        using (Data.TrackedEntries.Undetected(await Context.GetDbContextAsync(cancellationToken)))
        {
            return await base.FindByIdAsync(identifier, cancellationToken);
        }
    }

    // Note: every refresh starts with this read, so it is OpenIddict's own query (the row with its client and
    // authorization, tracked), compiled once instead of translated per request.
    private static readonly Data.CompiledQuery<DbContext, string, OpenIddictEntityFrameworkCoreToken?> ByReferenceId =
        new((db, identifier, cancellationToken) => db.Set<OpenIddictEntityFrameworkCoreToken>()
            .Include(token => token.Application).Include(token => token.Authorization).AsTracking()
            .FirstOrDefault(token => token.ReferenceId == identifier));

    public override async ValueTask<OpenIddictEntityFrameworkCoreToken?> FindByReferenceIdAsync(string identifier, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(identifier);
        var db = await Context.GetDbContextAsync(cancellationToken);
        var tracked = Data.TrackedEntries.Of<OpenIddictEntityFrameworkCoreToken>(db)
            .FirstOrDefault(entry => string.Equals(entry.Entity.ReferenceId, identifier, StringComparison.Ordinal))?.Entity;
        return tracked ?? await ByReferenceId.RunAsync(db, identifier, cancellationToken);
    }

    public override async ValueTask UpdateAsync(OpenIddictEntityFrameworkCoreToken token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        var db = await Context.GetDbContextAsync(cancellationToken);
        if (db.Entry(token).State == EntityState.Added)
        {
            // Note: the row was never written, so there is no concurrency token to check: this is its INSERT, in
            // one batch with the rows of the same response added before it.
            await SaveAddedRowsAsync(db, inserts, cancellationToken);
            return;
        }

        await base.UpdateAsync(token, cancellationToken);
    }

    /// <summary>
    /// Saves the token rows still only added when the sign-in has built every token and before the response is
    /// attached: a token whose row is not committed must never leave the server (revocation and introspection need
    /// it, RFC 7009 / RFC 7662). If the save fails, the request fails with it.
    /// </summary>
    internal sealed class SaveHandler(IOpenIddictEntityFrameworkCoreContext contexts, Data.GroupCommit inserts) : IOpenIddictServerHandler<ProcessSignInContext>
    {
        public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
            OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
                .UseScopedHandler<SaveHandler>()
                .SetOrder(OpenIddictServerHandlers.GenerateIdentityToken.Descriptor.Order + 500)
                .SetType(OpenIddictServerHandlerType.Custom)
                .Build();

        public async ValueTask HandleAsync(ProcessSignInContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            var db = await contexts.GetDbContextAsync(context.CancellationToken);
            if (Data.TrackedEntries.All(db).Any(IsDeferredRow))
            {
                await SaveAddedRowsAsync(db, inserts, context.CancellationToken);
            }
        }
    }

    // The rows left to one save: new token rows (this store) and ad-hoc authorizations (DeferredAuthorizationRowStore).
    private static bool IsDeferredRow(EntityEntry entry) =>
        entry.State == EntityState.Added && entry.Entity is OpenIddictEntityFrameworkCoreToken or OpenIddictEntityFrameworkCoreAuthorization;

    // Note: when the only pending changes are new token rows and ad-hoc authorizations, they are inserted with other
    // requests' new rows in one batch and one commit (Data/GroupCommit, on PostgreSQL). Otherwise, and on SQLite,
    // SaveChanges writes them; EF wraps a SaveChanges of several statements in BEGIN ... COMMIT, and the COMMIT is a
    // round trip of its own, so with only such rows pending the batch is sent without it: PostgreSQL runs one batch
    // (one Sync) as one implicit transaction, and were the rows ever split, a row without its token is inert (no
    // token referring to it has left the server). Any other pending change keeps EF's transaction, and so does a
    // transaction the request already opened.
    // Changes are detected once, here, and not again by SaveChanges and its interceptors (TrackedEntries).
    private static async Task SaveAddedRowsAsync(DbContext db, Data.GroupCommit inserts, CancellationToken cancellationToken)
    {
        db.ChangeTracker.DetectChanges();
        using var undetected = Data.TrackedEntries.Undetected(db);
        var entries = db.ChangeTracker.Entries().ToList();
        var onlyDeferredRows = entries.All(entry => entry.State is EntityState.Unchanged or EntityState.Detached || IsDeferredRow(entry));
        if (onlyDeferredRows && await inserts.TryInsertAsync(db, entries.FindAll(IsDeferredRow)))
        {
            return;
        }

        var behavior = db.Database.AutoTransactionBehavior;
        if (onlyDeferredRows)
        {
            db.Database.AutoTransactionBehavior = AutoTransactionBehavior.Never;
        }

        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        finally
        {
            db.Database.AutoTransactionBehavior = behavior;
        }
    }
}
