using System.CommandLine;
using System.Globalization;
using OAuthServer.Admin;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Cli;

/// <summary>
/// <c>tokens revoke-all</c>: the emergency brake of ops/runbooks/key-rotation.md. Every authorization and every
/// token still usable is revoked, so no refresh token, code or reference token works again: every client must send
/// its user through sign-in. JWT access tokens already handed out stay valid at resource servers until they expire
/// (at most Tokens:AccessTokenLifetime) unless the key that signed them is deleted too.
/// </summary>
internal static class TokensCommands
{
    public static Command Command(IServiceProvider services, TextWriter output)
    {
        var revokeAll = new Command("revoke-all", "Revoke every authorization and token (emergency): every refresh token stops working.");
        revokeAll.SetAction(async (_, cancellationToken) =>
        {
            await using var scope = services.CreateAsyncScope();
            var authorizations = scope.ServiceProvider.GetRequiredService<IOpenIddictAuthorizationManager>();
            var tokens = scope.ServiceProvider.GetRequiredService<IOpenIddictTokenManager>();
            // Note: only live entries change. Redeemed and rejected tokens keep their status, so a replayed refresh
            // token is still recognised as a replay (and reported) rather than as merely revoked.
            var revokedAuthorizations = await authorizations.RevokeAsync(subject: null, client: null, Statuses.Valid, type: null, cancellationToken);
            var revokedTokens = await tokens.RevokeAsync(subject: null, client: null, Statuses.Valid, type: null, cancellationToken)
                + await tokens.RevokeAsync(subject: null, client: null, Statuses.Inactive, type: null, cancellationToken);
            await CliCommands.RecordBulkChangeAsync(scope.ServiceProvider, AuditActions.TokensRevokedAll, "token", new { authorizations = revokedAuthorizations, tokens = revokedTokens }, cancellationToken);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"Revoked {revokedAuthorizations} authorization(s) and {revokedTokens} token(s). Every client must sign its users in again."));
            return 0;
        });

        return new Command("tokens", "Tokens and authorizations.") { revokeAll };
    }
}
