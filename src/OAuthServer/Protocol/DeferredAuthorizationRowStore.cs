using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using OpenIddict.EntityFrameworkCore;
using OpenIddict.EntityFrameworkCore.Models;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>
/// OpenIddict's authorization store, writing a sign-in's ad-hoc authorization (its token family) in the same batch
/// as the first token row that belongs to it, instead of in a commit of its own before any token exists.
/// </summary>
/// <remarks>
/// Note: the authorization and device verification endpoints create one ad-hoc authorization per sign-in and sign
/// in right after; the sign-in's token rows go through <see cref="DeferredTokenRowStore"/>, whose save inserts every
/// row the context holds as added, the authorization first (the token rows refer to it). An ad-hoc authorization
/// is only ever created to sign in with, and one whose sign-in fails before its tokens are written is never stored:
/// nothing could refer to it. Permanent authorizations (the consent page's) are written at once, as before.
/// </remarks>
internal sealed class DeferredAuthorizationRowStore(
    IMemoryCache cache, IOpenIddictEntityFrameworkCoreContext context, IOptionsMonitor<OpenIddictEntityFrameworkCoreOptions> options)
    : OpenIddictEntityFrameworkCoreAuthorizationStore<OpenIddictEntityFrameworkCoreAuthorization, OpenIddictEntityFrameworkCoreApplication, OpenIddictEntityFrameworkCoreToken, string>(cache, context, options)
{
    public override async ValueTask CreateAsync(OpenIddictEntityFrameworkCoreAuthorization authorization, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(authorization);
        if (authorization.Type != AuthorizationTypes.AdHoc)
        {
            await base.CreateAsync(authorization, cancellationToken);
            return;
        }

        // Note: as for token rows, only this entity is marked (its client is tracked already); EF assigns its id now,
        // so the endpoint can put it into the principal before the row exists.
        var db = await Context.GetDbContextAsync(cancellationToken);
        db.Entry(authorization).State = EntityState.Added;
    }

    // Note: as in the token store, OpenIddict looks for a tracked authorization before it queries (every refresh
    // validates its token's authorization, which the token's read brought along); its Entries() would first scan
    // every tracked entity for changes, which a lookup by id never needs.
    public override async ValueTask<OpenIddictEntityFrameworkCoreAuthorization?> FindByIdAsync(string identifier, CancellationToken cancellationToken)
    {
        using (Data.TrackedEntries.Undetected(await Context.GetDbContextAsync(cancellationToken)))
        {
            return await base.FindByIdAsync(identifier, cancellationToken);
        }
    }
}
