using OAuthServer.Data;
using OAuthServer.Events;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Accounts;

/// <summary>One app that holds a person's standing access: what it was granted, and since when.</summary>
internal sealed record AppWithAccess(string ClientId, string DisplayName, IReadOnlyList<string> Scopes, DateTimeOffset? Since);

/// <summary>
/// The apps with access to a person's account, read from OpenIddict's authorizations, and the revoke that cuts
/// one off: every authorization of the user for that client and every token, whatever authorization it hangs
/// on. One class, so it can be folded into the consent room's grants when both exist.
/// </summary>
internal sealed class AppAccess(
    IOpenIddictAuthorizationManager authorizations,
    IOpenIddictTokenManager tokens,
    IOpenIddictApplicationManager applications,
    OAuthDbContext db,
    SecurityEvents events)
{
    // Note: a bound on what one page reads; a person with more live sign-ins than this sees the newest clients.
    private const int MaximumAuthorizations = 500;

    /// <summary>The user's valid authorizations grouped per client, the client with the newest grant first.</summary>
    public async Task<IReadOnlyList<AppWithAccess>> ListAsync(Guid userId, CancellationToken cancellationToken)
    {
        var byApplication = new Dictionary<string, (HashSet<string> Scopes, DateTimeOffset? Since)>(StringComparer.Ordinal);
        var read = 0;
        await foreach (var authorization in authorizations.FindAsync(userId.ToString(), client: null, Statuses.Valid, type: null, scopes: null, cancellationToken))
        {
            if (++read > MaximumAuthorizations)
            {
                break;
            }

            if (await authorizations.GetApplicationIdAsync(authorization, cancellationToken) is not { } applicationId)
            {
                continue;
            }

            var created = await authorizations.GetCreationDateAsync(authorization, cancellationToken);
            var scopes = await authorizations.GetScopesAsync(authorization, cancellationToken);
            if (!byApplication.TryGetValue(applicationId, out var entry))
            {
                entry = (new HashSet<string>(StringComparer.Ordinal), created);
            }

            entry.Scopes.UnionWith(scopes);
            byApplication[applicationId] = (entry.Scopes, Earliest(entry.Since, created));
        }

        var apps = new List<AppWithAccess>();
        foreach (var (applicationId, entry) in byApplication)
        {
            var application = await applications.FindByIdAsync(applicationId, cancellationToken);
            if (application is null)
            {
                continue;
            }

            var clientId = await applications.GetClientIdAsync(application, cancellationToken) ?? applicationId;
            var name = await applications.GetDisplayNameAsync(application, cancellationToken) ?? clientId;
            apps.Add(new(clientId, name, [.. entry.Scopes.Order(StringComparer.Ordinal)], entry.Since));
        }

        return [.. apps.OrderByDescending(app => app.Since)];
    }

    /// <summary>
    /// Revokes every authorization of the user for <paramref name="clientId"/> and every token of the user for it
    /// (refresh tokens included); false when the client is unknown or held nothing of this user.
    /// </summary>
    public async Task<bool> RevokeAsync(Guid userId, string clientId, RequestOrigin origin, CancellationToken cancellationToken)
    {
        var application = await applications.FindByClientIdAsync(clientId, cancellationToken);
        if (application is null || await applications.GetIdAsync(application, cancellationToken) is not { } applicationId)
        {
            return false;
        }

        var subject = userId.ToString();
        return await db.InTransactionAsync(async () =>
        {
            // Note: by subject and client, not per listed authorization: a grant made between the page's read and
            // this post is cut off too.
            // Only what is still alive: redeemed tokens keep their status, the evidence a replay is detected by.
            var revokedAuthorizations = await authorizations.RevokeAsync(subject, applicationId, Statuses.Valid, type: null, cancellationToken);
            var revokedTokens = await tokens.RevokeAsync(subject, applicationId, Statuses.Valid, type: null, cancellationToken)
                + await tokens.RevokeAsync(subject, applicationId, Statuses.Inactive, type: null, cancellationToken);
            if (revokedAuthorizations == 0 && revokedTokens == 0)
            {
                return false;
            }

            events.Add(SecurityEventTypes.AuthorizationRevoked, origin with { ClientId = clientId }, userId,
                new { authorizations = revokedAuthorizations, tokens = revokedTokens });
            await db.SaveChangesAsync(cancellationToken);
            return true;
        }, cancellationToken);
    }

    private static DateTimeOffset? Earliest(DateTimeOffset? first, DateTimeOffset? second) =>
        first is null ? second : second is null ? first : first < second ? first : second;
}
