using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Admin;
using OAuthServer.Data;
using OAuthServer.Events;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Accounts;

/// <summary>An app with access to a person's account, as their account page lists it.</summary>
/// <param name="Standing">True when the person consented (a standing grant); false for a first-party client
/// (implicit consent) that only holds live tokens of a sign-in.</param>
internal sealed record Grant(
    string ClientId, string ClientDisplayName, string? LogoUri, string? ClientUri, IReadOnlyList<string> Scopes, DateTimeOffset? GrantedAt, bool Standing);

/// <summary>
/// What a person granted each client: one standing (permanent) authorization per person and client, widened when
/// they allow more, which the authorize endpoint reads to skip the consent page. Each sign-in's tokens hang off an
/// ad-hoc authorization of their own (the token family); revoking a grant ends the standing authorization and every
/// authorization and token of that person at that client, in one transaction with its security event.
/// </summary>
internal sealed class Grants(
    IOpenIddictAuthorizationManager authorizations, IOpenIddictTokenManager tokens, IOpenIddictApplicationManager applications,
    OAuthDbContext db, SecurityEvents events, TimeProvider clock)
{
    /// <summary>The scopes the person's standing grant to this client (by its application id) covers; empty without one.</summary>
    public async Task<IReadOnlySet<string>> StandingScopesAsync(Guid userId, string applicationId, CancellationToken cancellationToken = default)
    {
        var scopes = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var authorization in authorizations.FindAsync(userId.ToString(), applicationId, Statuses.Valid, AuthorizationTypes.Permanent, scopes: null, cancellationToken))
        {
            scopes.UnionWith(await authorizations.GetScopesAsync(authorization, cancellationToken));
        }

        return scopes;
    }

    /// <summary>
    /// Records that the person allowed <paramref name="scopes"/> to the client: the standing grant is created, or
    /// widened to cover them (never narrowed, never a second row), with a consent.granted event; a grant that
    /// already covers them is left as it is. Returns the standing authorization's id.
    /// </summary>
    public async Task<string> RememberAsync(
        Guid userId, ClaimsPrincipal principal, object application, IReadOnlyCollection<string> scopes, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        var applicationId = await applications.GetIdAsync(application, cancellationToken) ?? throw new InvalidOperationException("The client has no id.");
        var clientId = await applications.GetClientIdAsync(application, cancellationToken);
        var subject = userId.ToString();
        return await db.InTransactionAsync(async () =>
        {
            await SerializeAsync(subject, applicationId, cancellationToken);
            var standing = await authorizations.FindAsync(subject, applicationId, Statuses.Valid, AuthorizationTypes.Permanent, scopes: null, cancellationToken)
                .ToListAsync(cancellationToken);
            var before = new HashSet<string>(StringComparer.Ordinal);
            foreach (var authorization in standing)
            {
                before.UnionWith(await authorizations.GetScopesAsync(authorization, cancellationToken));
            }

            var merged = new SortedSet<string>(before.Concat(scopes), StringComparer.Ordinal);
            // Note: a decision that changes nothing (the same form posted again, a second tab) writes nothing and
            // raises no event, so a signed-in browser can't grow the grant rows or the event stream by repeating it.
            if (standing.Count == 1 && merged.Count == before.Count)
            {
                return (await authorizations.GetIdAsync(standing[0], cancellationToken))!;
            }

            string authorizationId;
            if (standing.Count == 0)
            {
                var created = await authorizations.CreateAsync(principal, subject, applicationId, AuthorizationTypes.Permanent, [.. merged], cancellationToken);
                authorizationId = (await authorizations.GetIdAsync(created, cancellationToken))!;
            }
            else
            {
                var kept = standing[0];
                var descriptor = new OpenIddictAuthorizationDescriptor();
                await authorizations.PopulateAsync(descriptor, kept, cancellationToken);
                descriptor.Scopes.UnionWith(merged);
                await authorizations.UpdateAsync(kept, descriptor, cancellationToken);
                // Note: rows from before grants were merged (or from a race on another database) fold into one,
                // so the account page shows one grant and a revoke has one thing to end.
                foreach (var extra in standing.Skip(1))
                {
                    await authorizations.TryRevokeAsync(extra, cancellationToken);
                }

                authorizationId = (await authorizations.GetIdAsync(kept, cancellationToken))!;
            }

            events.Add(SecurityEventTypes.ConsentGranted, origin with { ClientId = clientId }, userId, new
            {
                scopes = merged.ToArray(),
                added = merged.Where(scope => !before.Contains(scope)).ToArray(),
                authorization_id = authorizationId,
            });
            await db.SaveChangesAsync(cancellationToken);
            return authorizationId;
        }, cancellationToken);
    }

    /// <summary>
    /// The apps with access to the person's account: a client they consented to, or one holding a live token of
    /// theirs. Sorted by the client's name.
    /// </summary>
    public async Task<IReadOnlyList<Grant>> ListAsync(Guid userId, CancellationToken cancellationToken = default)
    {
        var subject = userId.ToString();
        var byClient = new Dictionary<string, (HashSet<string> Standing, HashSet<string> Live, DateTimeOffset? GrantedAt)>(StringComparer.Ordinal);
        // Note: read whole before each row is looked into: one connection runs one command at a time.
        var valid = await authorizations.FindAsync(subject, client: null, Statuses.Valid, type: null, scopes: null, cancellationToken).ToListAsync(cancellationToken);
        foreach (var authorization in valid)
        {
            if (await authorizations.GetApplicationIdAsync(authorization, cancellationToken) is not { } applicationId)
            {
                continue;
            }

            var entry = byClient.TryGetValue(applicationId, out var found) ? found : ([], [], null);
            var scopes = await authorizations.GetScopesAsync(authorization, cancellationToken);
            if (await authorizations.HasTypeAsync(authorization, AuthorizationTypes.Permanent, cancellationToken))
            {
                entry.Standing.UnionWith(scopes);
                var created = await authorizations.GetCreationDateAsync(authorization, cancellationToken);
                entry.GrantedAt = entry.GrantedAt is { } earlier && created is { } later && earlier < later ? earlier : created ?? entry.GrantedAt;
            }
            else if (await HasLiveTokenAsync(authorization, cancellationToken))
            {
                entry.Live.UnionWith(scopes);
            }

            byClient[applicationId] = entry;
        }

        var grants = new List<Grant>();
        foreach (var (applicationId, entry) in byClient)
        {
            if ((entry.Standing.Count == 0 && entry.Live.Count == 0) || await applications.FindByIdAsync(applicationId, cancellationToken) is not { } application)
            {
                continue;
            }

            var face = await ClientPresentation.ReadAsync(applications, application, cancellationToken);
            var standing = entry.Standing.Count > 0;
            grants.Add(new Grant(
                face.ClientId, face.DisplayName, face.LogoUri, face.ClientUri,
                [.. (standing ? entry.Standing.Union(entry.Live) : entry.Live).Order(StringComparer.Ordinal)], entry.GrantedAt, standing));
        }

        return [.. grants.OrderBy(grant => grant.ClientDisplayName, StringComparer.CurrentCultureIgnoreCase).ThenBy(grant => grant.ClientId, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Ends the person's access at one client: the standing grant, every sign-in's authorization and every token of
    /// theirs there (refresh tokens stop working at once; introspection calls their access tokens inactive). The
    /// next sign-in at that client asks for consent again. Not found when the client is unknown or had nothing.
    /// </summary>
    public async Task<Outcome> RevokeAsync(Guid userId, string clientId, RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        if (await applications.FindByClientIdAsync(clientId, cancellationToken) is not { } application
            || await applications.GetIdAsync(application, cancellationToken) is not { } applicationId)
        {
            return NoGrant;
        }

        var subject = userId.ToString();
        return await db.InTransactionAsync(async () =>
        {
            await SerializeAsync(subject, applicationId, cancellationToken);
            var revokedAuthorizations = await authorizations.RevokeAsync(subject, applicationId, Statuses.Valid, type: null, cancellationToken);
            // Note: only live tokens change: a redeemed refresh token keeps its status, so presenting it again is
            // still seen (and reported) as a replay.
            var revokedTokens = await tokens.RevokeAsync(subject, applicationId, Statuses.Valid, type: null, cancellationToken)
                + await tokens.RevokeAsync(subject, applicationId, Statuses.Inactive, type: null, cancellationToken);
            if (revokedAuthorizations == 0 && revokedTokens == 0)
            {
                return (Outcome)NoGrant;
            }

            events.Add(SecurityEventTypes.ConsentRevoked, origin with { ClientId = clientId }, userId, new { authorizations = revokedAuthorizations, tokens = revokedTokens });
            await db.SaveChangesAsync(cancellationToken);
            return Outcome.Success;
        }, cancellationToken);
    }

    private static Problem NoGrant => Problem.NotFound("This app has no access to the account.");

    private async Task<bool> HasLiveTokenAsync(object authorization, CancellationToken cancellationToken)
    {
        var id = await authorizations.GetIdAsync(authorization, cancellationToken);
        var now = clock.GetUtcNow();
        await foreach (var token in tokens.FindByAuthorizationIdAsync(id!, cancellationToken))
        {
            if (await tokens.HasStatusAsync(token, Statuses.Valid, cancellationToken)
                && (await tokens.GetExpirationDateAsync(token, cancellationToken) is not { } expires || expires > now))
            {
                return true;
            }
        }

        return false;
    }

    // Note: two consents (or a consent and a revoke) of one person at one client at the same time must not each
    // find no standing grant and create one: on PostgreSQL they take turns on a lock held to the end of the
    // transaction. SQLite has a single writer, and a duplicate that slips through there is folded in next time.
    private async Task SerializeAsync(string subject, string applicationId, CancellationToken cancellationToken)
    {
        if (db.Database.IsNpgsql())
        {
            var key = "consent:" + subject + ":" + applicationId;
            await db.Database.ExecuteSqlInterpolatedAsync($"SELECT pg_advisory_xact_lock(hashtextextended({key}, 0))", cancellationToken);
        }
    }
}
