using OAuthServer.Data;
using OpenIddict.Abstractions;

namespace OAuthServer.Protocol;

/// <summary>
/// Removes dead tokens (revoked, redeemed, expired, or of a dead authorization) and dead authorizations (revoked,
/// or ad-hoc without tokens left) created before the retention, through OpenIddict's own managers, which delete in
/// batches of 1,000.
/// </summary>
internal sealed class TokenPruningTask(IOpenIddictTokenManager tokens, IOpenIddictAuthorizationManager authorizations) : IPruningTask
{
    public string Name => "tokens and authorizations";

    public async Task<long> PruneAsync(DateTimeOffset now, PruningOptions options, CancellationToken cancellationToken)
    {
        var threshold = now - options.TokenRetention;
        // Note: tokens first: an authorization is only "without tokens" once its dead tokens are gone.
        var removed = await tokens.PruneAsync(threshold, cancellationToken);
        return removed + await authorizations.PruneAsync(threshold, cancellationToken);
    }
}
