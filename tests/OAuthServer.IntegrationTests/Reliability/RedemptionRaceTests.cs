using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;
using OpenIddict.EntityFrameworkCore.Models;
using Xunit.Abstractions;

namespace OAuthServer.IntegrationTests.Reliability;

/// <summary>
/// RFC 9700 §4.14.2 and §4.5 under concurrency: K simultaneous redemptions of one refresh token or one code,
/// spread over two nodes on one database. At most one wins, nobody gets a 5xx, the family is revoked, and each
/// detected replay leaves exactly one security event.
/// </summary>
public sealed class RedemptionRaceTests(ITestOutputHelper output)
{
    private const int Concurrency = 20;
    private const int Rounds = 3;

    [Fact]
    public async Task Concurrent_refresh_redemptions_over_two_nodes_let_at_most_one_win_and_revoke_the_family()
    {
        await using var first = await CustomServer.StartAsync();
        await using var second = await CustomServer.StartAsync(
            new() { ["Keys:Path"] = first.KeysPath, ["Server:Issuer"] = first.Issuer.ToString() }, first.ConnectionString);
        using var firstApi = first.CreateApiClient();
        using var secondApi = second.CreateApiClient();

        for (var round = 0; round < Rounds; round++)
        {
            var (signedIn, userId) = await SignInAsync(first);
            var refreshToken = (await signedIn.RedeemAsync(firstApi)).GetProperty("refresh_token").GetString()!;

            var outcome = await RaceAsync([firstApi, secondApi], api => api.RefreshAsync(signedIn.ClientId, refreshToken));
            output.WriteLine($"refresh round {round}: {outcome}");

            await outcome.ShouldHoldAsync(first, userId, "refresh.replayed");
            if (outcome.Winner is { } winner)
            {
                // The winner's fresh refresh token belongs to the revoked family: dead at both nodes.
                var successor = winner.GetProperty("refresh_token").GetString()!;
                await (await firstApi.RefreshAsync(signedIn.ClientId, successor)).ShouldFailWithAsync("invalid_grant");
                await (await secondApi.RefreshAsync(signedIn.ClientId, successor)).ShouldFailWithAsync("invalid_grant");
            }
        }
    }

    [Fact]
    public async Task Concurrent_code_redemptions_over_two_nodes_let_at_most_one_win_and_revoke_the_family()
    {
        await using var first = await CustomServer.StartAsync();
        await using var second = await CustomServer.StartAsync(
            new() { ["Keys:Path"] = first.KeysPath, ["Server:Issuer"] = first.Issuer.ToString() }, first.ConnectionString);
        using var firstApi = first.CreateApiClient();
        using var secondApi = second.CreateApiClient();

        for (var round = 0; round < Rounds; round++)
        {
            var (signedIn, userId) = await SignInAsync(first);

            var outcome = await RaceAsync([firstApi, secondApi],
                api => api.RedeemCodeAsync(signedIn.ClientId, signedIn.RedirectUri, signedIn.Code, signedIn.Pkce.Verifier));
            output.WriteLine($"code round {round}: {outcome}");

            await outcome.ShouldHoldAsync(first, userId, "code.replayed");
            if (outcome.Winner is { } winner)
            {
                var refreshToken = winner.GetProperty("refresh_token").GetString()!;
                await (await secondApi.RefreshAsync(signedIn.ClientId, refreshToken)).ShouldFailWithAsync("invalid_grant");
            }
        }
    }

    [Fact]
    public async Task Concurrent_refresh_redemptions_on_SQLite_let_at_most_one_win()
    {
        await using var node = new SqliteOAuthServerFactory();
        await node.InitializeAsync();
        using var api = node.CreateApiClient();
        var (signedIn, userId) = await SignInAsync(node);
        var refreshToken = (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;

        var outcome = await RaceAsync([api], client => client.RefreshAsync(signedIn.ClientId, refreshToken));
        output.WriteLine($"SQLite refresh: {outcome}");

        await outcome.ShouldHoldAsync(node, userId, "refresh.replayed");
    }

    private static async Task<(SignedIn SignedIn, Guid UserId)> SignInAsync(OAuthServerFactory server)
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var signedIn = await SignedIn.ForAsync(server, email, clientId, redirectUri);
        return (signedIn, (await server.ReadUserAsync(email)).Id);
    }

    /// <summary>Sends <see cref="Concurrency"/> requests released together, alternating over the given nodes.</summary>
    private static async Task<RaceOutcome> RaceAsync(HttpClient[] nodes, Func<HttpClient, Task<HttpResponseMessage>> send)
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = Enumerable.Range(0, Concurrency).Select(async index =>
        {
            await start.Task;
            using var response = await send(nodes[index % nodes.Length]);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }).ToList();
        start.SetResult();
        return new RaceOutcome(await Task.WhenAll(requests));
    }

    private sealed record RaceOutcome((int Status, string Body)[] Responses)
    {
        public int Successes => Responses.Count(response => response.Status == 200);

        /// <summary>Refusals that say the token had already been redeemed: the server saw a replay.</summary>
        public int DetectedReplays => Responses.Count(response => response.Status == 400 && response.Body.Contains("already been redeemed", StringComparison.Ordinal));

        public JsonElement? Winner => Responses.Where(response => response.Status == 200)
            .Select(response => (JsonElement?)JsonDocument.Parse(response.Body).RootElement.Clone()).FirstOrDefault();

        public async Task ShouldHoldAsync(OAuthServerFactory server, Guid userId, string eventType)
        {
            Responses.Should().NotContain(response => response.Status >= 500, "no redemption may fail with a server error");
            Successes.Should().BeLessThanOrEqualTo(1, "a single-use token is redeemed at most once");
            foreach (var (status, body) in Responses.Where(response => response.Status != 200))
            {
                status.Should().Be(400, body);
                JsonDocument.Parse(body).RootElement.GetProperty("error").GetString().Should().Be("invalid_grant", body);
            }

            DetectedReplays.Should().BeGreaterThan(0, "the first loser finds the token redeemed");

            var events = (await server.EventsForAsync(userId)).Where(item => item.Type == eventType).ToList();
            events.Should().HaveCount(DetectedReplays, "each detected replay records exactly one {0} event", eventType);

            var subject = userId.ToString();
            var authorizations = await server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>()
                .Set<OpenIddictEntityFrameworkCoreAuthorization>().AsNoTracking()
                .Where(authorization => authorization.Subject == subject).Select(authorization => authorization.Status).ToListAsync());
            authorizations.Should().ContainSingle().Which.Should().Be("revoked", "the token family (the sign-in's authorization) is revoked");
        }

        public override string ToString() =>
            $"{Responses.Length} requests: {Successes} succeeded, {DetectedReplays} detected replays, "
            + string.Join(", ", Responses.GroupBy(response => response.Status).OrderBy(group => group.Key).Select(group => $"{group.Key} x{group.Count()}"));
    }
}
