using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OAuthServer.Admin;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;
using OpenIddict.EntityFrameworkCore.Models;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>
/// The refresh retry window: a client that lost a refresh response retries with the token it just rotated and,
/// inside its window, gets the same successor; outside it, or once the successor was used, the retry is a replay
/// that revokes the family (RFC 9700 §4.14.2), as with the window off.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class RefreshRetryWindowTests(OAuthServerFactory server)
{
    [Fact]
    public async Task A_retry_inside_the_window_gets_the_same_successor_and_a_fresh_access_token()
    {
        var (clientId, first) = await SignedInAsync(server, TimeSpan.FromSeconds(30));
        using var api = server.CreateApiClient();
        var rotated = await (await api.RefreshAsync(clientId, first.RefreshToken)).ShouldSucceedAsync();

        var retried = await (await api.RefreshAsync(clientId, first.RefreshToken)).ShouldSucceedAsync();

        retried.GetProperty("refresh_token").GetString().Should().Be(rotated.GetProperty("refresh_token").GetString(), "the retry repeats the rotation");
        retried.GetProperty("access_token").GetString().Should().NotBe(rotated.GetProperty("access_token").GetString());
        // The successor is live and rotates as usual.
        var next = await (await api.RefreshAsync(clientId, rotated.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();
        next.GetProperty("refresh_token").GetString().Should().NotBe(rotated.GetProperty("refresh_token").GetString());
        var types = (await server.EventsForAsync(first.UserId)).Select(item => item.Type).ToList();
        types.Should().Contain("refresh.retried").And.NotContain("refresh.replayed");
    }

    [Fact]
    public async Task A_retry_after_the_successor_was_used_is_a_replay_that_revokes_the_family()
    {
        var (clientId, first) = await SignedInAsync(server, TimeSpan.FromSeconds(30));
        using var api = server.CreateApiClient();
        var second = (await (await api.RefreshAsync(clientId, first.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;
        var third = (await (await api.RefreshAsync(clientId, second)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;

        await (await api.RefreshAsync(clientId, first.RefreshToken)).ShouldFailWithAsync("invalid_grant");
        await (await api.RefreshAsync(clientId, third)).ShouldFailWithAsync("invalid_grant"); // the replay revoked the family
        // The token whose successor was used is a replay too, even inside the window.
        await (await api.RefreshAsync(clientId, second)).ShouldFailWithAsync("invalid_grant");
        (await server.EventsForAsync(first.UserId)).Should().Contain(item => item.Type == "refresh.replayed");
    }

    [Fact]
    public async Task Outside_the_window_a_retry_is_a_replay_as_with_the_window_off()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var node = await CustomServer.StartAsync(services: services => services.AddSingleton<TimeProvider>(clock));
        using var api = node.CreateApiClient();

        // Inside (4 s of 5): the same successor.
        var (clientId, inside) = await SignedInAsync(node, TimeSpan.FromSeconds(5));
        var successor = (await (await api.RefreshAsync(clientId, inside.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;
        clock.Advance(TimeSpan.FromSeconds(4));
        (await (await api.RefreshAsync(clientId, inside.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString().Should().Be(successor);

        // Outside (6 s of 5): a replay; the family is revoked.
        var outside = await SignInAsync(node, clientId);
        var lost = (await (await api.RefreshAsync(clientId, outside.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;
        clock.Advance(TimeSpan.FromSeconds(6));
        await (await api.RefreshAsync(clientId, outside.RefreshToken)).ShouldFailWithAsync("invalid_grant");
        await (await api.RefreshAsync(clientId, lost)).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task The_server_default_applies_unless_a_client_turns_it_off()
    {
        await using var node = await CustomServer.StartAsync(new() { ["Tokens:RefreshRetryWindow"] = "00:00:30" });
        using var api = node.CreateApiClient();

        var (byDefault, first) = await SignedInAsync(node, window: null);
        var successor = (await (await api.RefreshAsync(byDefault, first.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;
        (await (await api.RefreshAsync(byDefault, first.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString().Should().Be(successor);

        var (off, other) = await SignedInAsync(node, TimeSpan.Zero);
        var offSuccessor = (await (await api.RefreshAsync(off, other.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;
        await (await api.RefreshAsync(off, other.RefreshToken)).ShouldFailWithAsync("invalid_grant");
        await (await api.RefreshAsync(off, offSuccessor)).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Another_client_presenting_the_rotated_token_is_a_replay_even_inside_its_own_window()
    {
        var (clientId, first) = await SignedInAsync(server, TimeSpan.FromSeconds(30));
        var (stranger, _) = await SignedInAsync(server, TimeSpan.FromSeconds(30));
        using var api = server.CreateApiClient();
        var successor = (await (await api.RefreshAsync(clientId, first.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;

        await (await api.RefreshAsync(stranger, first.RefreshToken)).ShouldFailWithAsync("invalid_grant");

        await (await api.RefreshAsync(clientId, successor)).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task Simultaneous_retries_all_get_the_one_successor()
    {
        var (clientId, first) = await SignedInAsync(server, TimeSpan.FromSeconds(30));
        using var api = server.CreateApiClient();
        var successor = (await (await api.RefreshAsync(clientId, first.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;

        var retries = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ => await (await api.RefreshAsync(clientId, first.RefreshToken)).ShouldSucceedAsync()));

        retries.Select(body => body.GetProperty("refresh_token").GetString()).Should().AllBe(successor);
        (await LiveRefreshTokensAsync(server, first.RefreshToken)).Should().Be(1);
    }

    [Fact]
    public async Task A_rotation_racing_its_own_retries_issues_exactly_one_successor()
    {
        var (clientId, first) = await SignedInAsync(server, TimeSpan.FromSeconds(30));
        using var api = server.CreateApiClient();

        // The first attempt and its retries all in flight at once: one wins the redemption, the others wait for its
        // successor. Never two live successors.
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ => await (await api.RefreshAsync(clientId, first.RefreshToken)).ShouldSucceedAsync()));

        var successors = responses.Select(body => body.GetProperty("refresh_token").GetString()!).Distinct().ToList();
        successors.Should().ContainSingle();
        (await LiveRefreshTokensAsync(server, first.RefreshToken)).Should().Be(1);
        await (await api.RefreshAsync(clientId, successors[0])).ShouldSucceedAsync();
    }

    [Fact]
    public async Task The_successor_is_never_stored_in_clear()
    {
        var (clientId, first) = await SignedInAsync(server, TimeSpan.FromSeconds(30));
        using var api = server.CreateApiClient();
        var successor = (await (await api.RefreshAsync(clientId, first.RefreshToken)).ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;

        var rows = await server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
            .Where(token => token.Subject == first.UserId.ToString()).Select(token => new { token.Properties, token.Payload, token.ReferenceId }).ToListAsync());

        rows.Should().Contain(row => row.Properties != null && row.Properties.Contains("oauthserver_retry_successor"), "the rotated row keeps the sealed successor");
        rows.Should().NotContain(row => (row.Properties ?? string.Empty).Contains(successor) || (row.Payload ?? string.Empty).Contains(successor) || row.ReferenceId == successor);
    }

    private static Task<int> LiveRefreshTokensAsync(OAuthServerFactory node, string anyOfTheFamily) =>
        node.WithScopeAsync(async services =>
        {
            var db = services.GetRequiredService<OAuthDbContext>();
            var tokens = services.GetRequiredService<OpenIddict.Abstractions.IOpenIddictTokenManager>();
            var token = await tokens.FindByReferenceIdAsync(anyOfTheFamily) ?? throw new InvalidOperationException("no such token");
            var authorizationId = await tokens.GetAuthorizationIdAsync(token);
            return await db.Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
                .CountAsync(row => row.Authorization!.Id == authorizationId && row.Type == OpenIddict.Abstractions.OpenIddictConstants.TokenTypeIdentifiers.RefreshToken && row.Status == OpenIddict.Abstractions.OpenIddictConstants.Statuses.Valid);
        });

    internal sealed record Tokens(Guid UserId, string RefreshToken);

    /// <summary>A first-party public client with the given retry window (null: the server's), and a user signed in to it.</summary>
    internal static async Task<(string ClientId, Tokens Tokens)> SignedInAsync(OAuthServerFactory node, TimeSpan? window)
    {
        var clientId = "retry-" + Guid.NewGuid().ToString("N")[..10];
        await node.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId,
            Kind = ClientKind.Public,
            RedirectUris = [$"http://127.0.0.1:8123/{clientId}/callback"],
            Scopes = ["openid", "offline_access", "api"],
            ImplicitConsent = true,
            RefreshRetryWindow = window,
        });
        return (clientId, await SignInAsync(node, clientId));
    }

    private static async Task<Tokens> SignInAsync(OAuthServerFactory node, string clientId)
    {
        var email = await node.CreateUserAsync();
        var signedIn = await SignedIn.ForAsync(node, email, clientId, $"http://127.0.0.1:8123/{clientId}/callback");
        using var api = node.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(api);
        return new((await node.ReadUserAsync(email)).Id, tokens.GetProperty("refresh_token").GetString()!);
    }
}
