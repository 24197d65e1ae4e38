using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OAuthServer.Accounts;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Accounts;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Events;

/// <summary>
/// Architecture §6: an event exists if and only if the change it describes was committed. Each test makes
/// PostgreSQL refuse one event type's outbox row (a trigger), drives the change over HTTP, and checks that the
/// change was rolled back with it; then lifts the refusal and checks that the change and its event commit together.
/// A change committed on its own, before its event, would leave it in place without the event.
/// </summary>
public sealed class OutboxAtomicityTests
{
    [Fact]
    public async Task A_lockout_is_committed_only_together_with_its_account_locked_event()
    {
        await using var node = await CustomServer.StartAsync();
        var email = await node.CreateUserAsync();
        for (var attempt = 0; attempt < 4; attempt++)
        {
            (await node.LoginAsync(email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        await using (await RefuseEventsAsync(node, "account.locked"))
        {
            (await node.LoginAsync(email, "wrong-password-attempt")).IsSuccessStatusCode.Should().BeFalse();

            var user = await node.ReadUserAsync(email);
            user.LockedUntil.Should().BeNull("the lock must roll back with its refused event");
            user.LockoutCount.Should().Be(0);
            (await CountAsync(node, "account.locked")).Should().Be(0);
        }

        (await node.LoginAsync(email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await node.ReadUserAsync(email)).LockedUntil.Should().NotBeNull("the failures still count, and now the lock commits");
        (await CountAsync(node, "account.locked")).Should().Be(1);
    }

    [Fact]
    public async Task A_replay_revokes_the_token_family_only_together_with_its_refresh_replayed_event()
    {
        await using var node = await CustomServer.StartAsync();
        using var api = node.CreateApiClient();
        var signedIn = await SignedIn.StartAsync(node);
        var first = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var second = (await (await api.RefreshAsync(signedIn.ClientId, first)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;

        await using (await RefuseEventsAsync(node, "refresh.replayed"))
        {
            (await api.RefreshAsync(signedIn.ClientId, first)).IsSuccessStatusCode.Should().BeFalse();
            (await CountAsync(node, "refresh.replayed")).Should().Be(0);
        }

        // The family was not revoked: the legitimate holder's refresh token still works.
        var third = (await (await api.RefreshAsync(signedIn.ClientId, second)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;

        await (await api.RefreshAsync(signedIn.ClientId, first)).ShouldFailWithAsync("invalid_grant");
        (await CountAsync(node, "refresh.replayed")).Should().Be(1);
        await (await api.RefreshAsync(signedIn.ClientId, third)).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task A_revocation_is_committed_only_together_with_its_token_revoked_event()
    {
        await using var node = await CustomServer.StartAsync();
        using var api = node.CreateApiClient();
        var signedIn = await SignedIn.StartAsync(node);
        var first = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;

        await using (await RefuseEventsAsync(node, "token.revoked"))
        {
            (await RevokeAsync(api, signedIn.ClientId, first)).IsSuccessStatusCode.Should().BeFalse();
            (await CountAsync(node, "token.revoked")).Should().Be(0);
        }

        // The refused revocation left the token valid.
        var second = (await (await api.RefreshAsync(signedIn.ClientId, first)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;

        (await RevokeAsync(api, signedIn.ClientId, second)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await CountAsync(node, "token.revoked")).Should().Be(1);
        await (await api.RefreshAsync(signedIn.ClientId, second)).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task A_second_factor_sign_in_starts_its_session_only_together_with_its_login_succeeded_event()
    {
        await using var node = await CustomServer.StartAsync();
        var email = await node.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(node, email, DateTimeOffset.UtcNow);
        var userId = (await node.ReadUserAsync(email)).Id;
        var sessions = await LiveSessionsAsync(node, userId);
        var succeeded = await CountAsync(node, "login.succeeded");

        await using (await RefuseEventsAsync(node, "login.succeeded"))
        {
            var (flow, page) = await TotpSteps.PasswordAsync(node, email);
            TotpSteps.StartedSession(await TotpSteps.SubmitAsync(flow, page, "recovery", enrolled.RecoveryCodes[0])).Should().BeFalse();
            (await LiveSessionsAsync(node, userId)).Should().Be(sessions, "the session record must roll back with its refused event");
            (await CountAsync(node, "login.succeeded")).Should().Be(succeeded);
        }

        var (retry, retryPage) = await TotpSteps.PasswordAsync(node, email);
        TotpSteps.StartedSession(await TotpSteps.SubmitAsync(retry, retryPage, "recovery", enrolled.RecoveryCodes[1])).Should().BeTrue();
        (await LiveSessionsAsync(node, userId)).Should().Be(sessions + 1, "now the session and its event commit together");
        (await CountAsync(node, "login.succeeded")).Should().Be(succeeded + 1);
    }

    private static Task<int> LiveSessionsAsync(OAuthServerFactory node, Guid userId) =>
        node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<SessionRecord>()
            .CountAsync(row => row.UserId == userId && row.EndedAt == null));

    private static Task<HttpResponseMessage> RevokeAsync(HttpClient api, string clientId, string token) =>
        api.PostAsync("/connect/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = clientId,
            ["token"] = token,
            ["token_type_hint"] = "refresh_token",
        }));

    private static Task<int> CountAsync(OAuthServerFactory node, string type) =>
        node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().SecurityEvents.CountAsync(item => item.Type == type));

    /// <summary>Makes every insert of an outbox row of <paramref name="type"/> fail until disposed.</summary>
    private static async Task<IAsyncDisposable> RefuseEventsAsync(OAuthServerFactory node, string type)
    {
        await ExecuteAsync(node, $"""
            CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'test: outbox row refused'; END $$;
            CREATE TRIGGER refuse_event BEFORE INSERT ON security_events
            FOR EACH ROW WHEN (NEW."Type" = '{type}') EXECUTE FUNCTION refuse_event();
            """);
        return new Lifted(() => ExecuteAsync(node, "DROP TRIGGER refuse_event ON security_events; DROP FUNCTION refuse_event();"));
    }

    private static async Task ExecuteAsync(OAuthServerFactory node, string sql)
    {
        await using var connection = new NpgsqlConnection(node.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private sealed class Lifted(Func<Task> lift) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await lift();
    }
}
