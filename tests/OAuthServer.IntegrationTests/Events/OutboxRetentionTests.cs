using System.Net;
using Npgsql;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Events;

/// <summary>
/// With NATS unset nobody drains the outbox, and every stranger's failed login adds a row. The pruner, running on
/// its own, must still bound it: unpublished rows go after Pruning:UnpublishedEventRetention.
/// </summary>
public sealed class OutboxRetentionTests
{
    [Fact]
    public async Task Without_NATS_the_pruner_drops_unpublished_events_past_their_retention_and_keeps_newer_ones()
    {
        await using var node = await CustomServer.StartAsync(new()
        {
            ["Pruning:Interval"] = "00:00:01",
            ["Pruning:UnpublishedEventRetention"] = "01:00:00",
        });

        // Strangers' failed logins, over HTTP: unknown emails, no session.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            (await node.LoginAsync(TestData.NewEmail(), "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        var events = await ScalarAsync(node, "SELECT count(*) FROM security_events WHERE \"Type\" = 'login.failed' AND \"PublishedAt\" IS NULL");
        events.Should().Be(3, "each failed login is an unpublished event");
        // Two of them are old now; the third (and any other row) is within the retention.
        await ScalarAsync(node, """
            UPDATE security_events SET "OccurredAt" = now() - interval '2 hours'
            WHERE "Id" IN (SELECT "Id" FROM security_events WHERE "Type" = 'login.failed' ORDER BY "OccurredAt" LIMIT 2)
            """);

        long old = 2;
        for (var attempt = 0; attempt < 100 && old > 0; attempt++)
        {
            await Task.Delay(200);
            old = await ScalarAsync(node, "SELECT count(*) FROM security_events WHERE \"OccurredAt\" < now() - interval '1 hour'");
        }

        old.Should().Be(0, "the background pruner runs with NATS unset, and unpublished rows past the retention go");
        (await ScalarAsync(node, "SELECT count(*) FROM security_events WHERE \"Type\" = 'login.failed'")).Should().Be(1, "a newer unpublished event stays");
    }

    [Fact]
    public async Task An_unpublished_retention_short_enough_to_lose_events_in_a_brief_outage_stops_start_up()
    {
        var failure = await Record.ExceptionAsync(() => CustomServer.StartAsync(new() { ["Pruning:UnpublishedEventRetention"] = "00:05:00" }));

        failure.Should().NotBeNull();
        failure!.ToString().Should().Contain("Pruning:UnpublishedEventRetention");
    }

    private static async Task<long> ScalarAsync(OAuthServerFactory node, string sql)
    {
        await using var connection = new NpgsqlConnection(node.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }
}
