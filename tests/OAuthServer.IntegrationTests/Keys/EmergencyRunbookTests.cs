using System.Net;
using Npgsql;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Keys;

/// <summary>
/// The emergency steps of ops/runbooks/key-rotation.md that act on everyone at once, run as the operator runs them:
/// the server binary's CLI, in Production, against the running node's database.
/// </summary>
public sealed class EmergencyRunbookTests
{
    [Fact]
    public async Task Tokens_revoke_all_kills_every_refresh_token_and_users_sign_out_all_ends_every_browser_session()
    {
        await using var node = await CustomServer.StartAsync();
        using var api = node.CreateApiClient();
        var alice = await SignedIn.StartAsync(node);
        var aliceRefresh = (await alice.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var bob = await SignedIn.StartAsync(node);
        var bobRefresh = (await bob.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var authorize = BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(alice.ClientId, alice.RedirectUri, Pkce.Create()));
        (await alice.Flow!.FollowAsync(authorize)).Headers.Location!.ToString().Should().StartWith(alice.RedirectUri, "Alice's browser session is live");

        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__OAuthServer"] = node.ConnectionString,
            ["Keys__Path"] = node.KeysPath,
            ["Logging__LogLevel__Default"] = "Warning",
        };

        // Runbook: revoke every authorization and token. Every refresh token dies.
        var revoke = await ServerBinary.RunAsync(["tokens", "revoke-all"], environment);
        revoke.ExitCode.Should().Be(0, revoke.Error);
        revoke.Output.Should().Contain("Revoked");
        await (await api.RefreshAsync(alice.ClientId, aliceRefresh)).ShouldFailWithAsync("invalid_grant");
        await (await api.RefreshAsync(bob.ClientId, bobRefresh)).ShouldFailWithAsync("invalid_grant");

        // Runbook: end every browser session. Alice's next authorize request shows the login form.
        var signOut = await ServerBinary.RunAsync(["users", "sign-out-all"], environment);
        signOut.ExitCode.Should().Be(0, signOut.Error);
        var page = await alice.Flow.FollowAsync(authorize);
        page.StatusCode.Should().Be(HttpStatusCode.OK);
        page.RequestMessage!.RequestUri!.AbsolutePath.Should().Be("/account/login", "the session no longer counts: Alice must sign in again");

        // Both are in the audit log, as the CLI.
        await using var connection = new NpgsqlConnection(node.ConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT string_agg(\"Action\" || '/' || \"Actor\" || '/' || \"TargetId\", ',' ORDER BY \"Id\") FROM audit_log WHERE \"Action\" LIKE '%_all'", connection);
        ((string?)await query.ExecuteScalarAsync()).Should().Be("tokens.revoked_all/cli/*,users.signed_out_all/cli/*");
    }
}
