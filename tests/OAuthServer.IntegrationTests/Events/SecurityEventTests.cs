using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Admin;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Events;

/// <summary>Security events go through the outbox to a real NATS JetStream, and survive a NATS outage.</summary>
public sealed class SecurityEventTests
{
    private static readonly string[] AllTypes =
    [
        "user.created", "login.succeeded", "login.failed", "account.locked", "account.unlocked", "account.disabled",
        "account.enabled", "password.changed", "refresh.replayed", "code.replayed", "token.revoked", "client.created",
        "client.updated", "client.secret_rotated", "client.deleted", "user.deleted",
    ];

    [Fact]
    public async Task Every_event_type_is_published_with_its_subject_and_body()
    {
        await using var nats = new NatsTestServer();
        await nats.StartAsync();
        await using var node = await CustomServer.StartAsync(new() { ["Nats:Url"] = nats.Url, ["Nats:PollInterval"] = "00:00:00.100" });

        var email = await node.CreateUserAsync();
        var (clientId, redirectUri) = await node.CreatePublicClientAsync();                   // client.created
        var pkce = Pkce.Create();
        var redirect = await new BrowserFlow(node).SignInAsync(                                  // login.succeeded
            BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce)), email, TestData.Password);
        using var api = node.CreateApiClient();
        var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, BrowserFlow.Query(redirect.Headers.Location!)["code"], pkce.Verifier)).ShouldSucceedAsync();
        var first = tokens.GetProperty("refresh_token").GetString()!;
        var second = (await (await api.RefreshAsync(clientId, first)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;
        await api.PostAsync("/connect/revoke", new FormUrlEncodedContent(new Dictionary<string, string> { ["client_id"] = clientId, ["token"] = second })); // token.revoked
        await api.RefreshAsync(clientId, first);                                                 // refresh.replayed
        var again = Pkce.Create();
        var code = BrowserFlow.Query((await new BrowserFlow(node).SignInAsync(
            BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, again)), email, TestData.Password)).Headers.Location!)["code"];
        await (await api.RedeemCodeAsync(clientId, redirectUri, code, again.Verifier)).ShouldSucceedAsync();
        await api.RedeemCodeAsync(clientId, redirectUri, code, again.Verifier);                  // code.replayed
        for (var attempt = 0; attempt < 5; attempt++)
        {
            await node.LoginAsync(email, "wrong-password-attempt");                              // login.failed, account.locked
        }

        await node.AdministerAsync(email, (accounts, id) => accounts.UnlockAsync(id, AccountHelpers.TestOrigin));
        await node.AdministerAsync(email, (accounts, id) => accounts.DisableAsync(id, AccountHelpers.TestOrigin));
        await node.AdministerAsync(email, (accounts, id) => accounts.EnableAsync(id, AccountHelpers.TestOrigin));
        await node.AdministerAsync(email, (accounts, id) => accounts.SetPasswordAsync(id, "another-long-passphrase", AccountHelpers.TestOrigin));
        var userId = (await node.ReadUserAsync(email)).Id.ToString();
        var machine = new ClientRegistration
        {
            ClientId = "events-" + Guid.NewGuid().ToString("N")[..8], Kind = ClientKind.Confidential, Secret = ClientRegistry.NewSecret(),
            AllowClientCredentials = true, Scopes = ["api"],
        };
        await node.RegisterClientAsync(machine);
        await node.WithScopeAsync(async services =>
        {
            var registry = services.GetRequiredService<ClientRegistry>();
            (await registry.UpdateAsync(machine with { DisplayName = "Renamed" }, AccountHelpers.TestOrigin)).Succeeded.Should().BeTrue();       // client.updated
            (await registry.RotateSecretAsync(machine.ClientId, AccountHelpers.TestOrigin)).Value.Should().NotBeNull();                // client.secret_rotated
            return await registry.DeleteAsync(machine.ClientId, AccountHelpers.TestOrigin);                                            // client.deleted
        });
        await node.AdministerAsync(email, (accounts, id) => accounts.DeleteAsync(id, AccountHelpers.TestOrigin));                       // user.deleted

        await WaitUntilPublishedAsync(node);
        var messages = await NatsTestServer.ReadStreamAsync(nats.Url);

        foreach (var type in AllTypes)
        {
            // The Development seed publishes its own user.created and client.created: pick this test's events.
            var about = type is "token.revoked" || type.StartsWith("client.", StringComparison.Ordinal) ? null : userId;
            var message = messages.FirstOrDefault(item => item.Subject == "oauth.security." + type
                && (about is null || JsonDocument.Parse(item.Body).RootElement.TryGetProperty("user_id", out var user) && user.GetString() == about));
            message.Subject.Should().NotBeNull($"a {type} event must be published");
            var body = JsonDocument.Parse(message.Body).RootElement;
            body.GetProperty("type").GetString().Should().Be(type);
            Guid.TryParse(body.GetProperty("id").GetString(), out _).Should().BeTrue();
            body.GetProperty("occurred_at").GetDateTime().Should().BeCloseTo(DateTime.UtcNow, TimeSpan.FromMinutes(5));
            body.GetProperty("data").ValueKind.Should().Be(JsonValueKind.Object);
            if (type != "token.revoked" && !type.StartsWith("client.", StringComparison.Ordinal))
            {
                body.GetProperty("user_id").GetString().Should().Be(userId);
            }
        }

        var refreshReplayed = JsonDocument.Parse(messages.First(item => item.Subject == "oauth.security.refresh.replayed").Body).RootElement;
        refreshReplayed.GetProperty("client_id").GetString().Should().Be(clientId);
        refreshReplayed.GetProperty("ip").GetString().Should().Be("127.0.0.1");
        refreshReplayed.TryGetProperty("user_agent", out _).Should().BeTrue();
        var everything = string.Join("\n", messages.Select(item => item.Body));
        everything.Should().NotContain(TestData.Password).And.NotContain(first).And.NotContain(second).And.NotContain(email, "an email never travels in an event");
    }

    [Fact]
    public async Task Logins_work_while_NATS_is_down_and_every_queued_event_is_delivered_exactly_once_when_it_returns()
    {
        await using var nats = new NatsTestServer();
        await nats.StartAsync();
        await using var node = await CustomServer.StartAsync(new() { ["Nats:Url"] = nats.Url, ["Nats:PollInterval"] = "00:00:00.100", ["Nats:MaxBackoff"] = "00:00:01" });
        var email = await node.CreateUserAsync();
        await WaitUntilPublishedAsync(node);
        using var api = node.CreateApiClient();

        await nats.StopAsync();
        for (var round = 0; round < 3; round++)
        {
            (await node.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
            (await node.LoginAsync(email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        (await PendingAsync(node)).Should().BeGreaterThanOrEqualTo(6, "events pile up in the outbox while NATS is away");
        await WaitForAsync(async () => await api.GetStringAsync("/health/ready") == "Degraded", "readiness reports NATS as degraded, not failed");

        await nats.StartAsync();
        await WaitUntilPublishedAsync(node);

        var ids = await node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().SecurityEvents.Select(item => item.Id).ToListAsync());
        var published = (await NatsTestServer.ReadStreamAsync(nats.Url)).Select(item => JsonDocument.Parse(item.Body).RootElement.GetProperty("id").GetGuid()).ToList();
        published.Should().OnlyHaveUniqueItems("JetStream drops duplicates by Nats-Msg-Id");
        published.Should().BeEquivalentTo(ids, "every outbox event is delivered, none lost");
        await WaitForAsync(async () => await api.GetStringAsync("/health/ready") == "Healthy", "readiness recovers with NATS");
    }

    [Fact]
    public async Task Revoking_a_token_that_does_not_exist_records_no_event()
    {
        await using var node = await CustomServer.StartAsync();
        var (clientId, _) = await node.CreatePublicClientAsync();
        using var api = node.CreateApiClient();

        var response = await api.PostAsync("/connect/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = clientId,
            ["token"] = "not-a-token-" + Guid.NewGuid().ToString("N"),
        }));

        response.StatusCode.Should().Be(HttpStatusCode.OK, "RFC 7009: an invalid token is answered like a revoked one");
        (await node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().SecurityEvents.CountAsync(item => item.Type == "token.revoked")))
            .Should().Be(0);
    }

    private static Task<int> PendingAsync(OAuthServerFactory node) =>
        node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().SecurityEvents.CountAsync(item => item.PublishedAt == null));

    private static Task WaitUntilPublishedAsync(OAuthServerFactory node) =>
        WaitForAsync(async () => await PendingAsync(node) == 0, "the relay empties the outbox");

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        for (var attempt = 0; attempt < 300; attempt++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("Timed out waiting until " + what);
    }
}
