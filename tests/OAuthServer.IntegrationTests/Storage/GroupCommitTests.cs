using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;
using OpenIddict.EntityFrameworkCore.Models;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.IntegrationTests.Storage;

/// <summary>
/// Issue 15: the token path's writes of concurrent requests share one batch and one commit (Data/GroupCommit). What
/// must hold: every token that leaves the server has its row committed, one request's refused rows never take another
/// request's rows down with them, and a single-use token is redeemed once however its redemptions are batched.
/// </summary>
public sealed class GroupCommitTests
{
    [Fact]
    public async Task Tokens_issued_at_once_all_have_their_rows_committed_before_they_are_returned()
    {
        await using var node = await CustomServer.StartAsync();
        var holders = new List<SignedIn>();
        for (var index = 0; index < 6; index++)
        {
            holders.Add(await SignedIn.StartAsync(node));
        }

        using var api = node.CreateApiClient();

        // Six code exchanges, then six refreshes, each wave all at once: a refresh finds its token only by its row,
        // so each one that succeeds proves the row was committed before the exchange answered.
        var exchanged = await Task.WhenAll(holders.Select(holder => holder.RedeemAsync(api)));
        var refreshed = await Task.WhenAll(holders.Select((holder, index) =>
            api.RefreshAsync(holder.ClientId, exchanged[index].GetProperty("refresh_token").GetString()!)));
        foreach (var response in refreshed)
        {
            (await response.ShouldSucceedAsync()).GetProperty("refresh_token").GetString().Should().NotBeNullOrEmpty();
            response.Dispose();
        }

        await using var scope = node.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
        var refreshTokens = await db.Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
            .Where(token => token.Type == TokenTypeIdentifiers.RefreshToken).Select(token => token.Status).ToListAsync();
        refreshTokens.Should().HaveCount(12, "six from the exchanges, six from the refreshes, each row once");
        refreshTokens.Count(status => status == Statuses.Redeemed).Should().Be(6);
    }

    [Fact]
    public async Task A_request_whose_rows_are_refused_fails_alone_and_the_requests_batched_with_it_are_committed()
    {
        await using var node = await CustomServer.StartAsync();
        var holder = await SignedIn.StartAsync(node);
        var inserts = node.Services.GetRequiredService<GroupCommit>();

        await using var first = await RequestAsync(node, holder.ClientId);
        await using var refused = await RequestAsync(node, holder.ClientId);
        await using var batchedWithIt = await RequestAsync(node, holder.ClientId);

        // The refused request's token points to a client that does not exist (as if deleted meanwhile): PostgreSQL's
        // foreign key refuses its row.
        refused.Db.Entry(refused.Token).Property("ApplicationId").CurrentValue = "no-such-client";

        // The first request's batch is in flight when the other two queue, so those two go out together in the next.
        var writes = new[] { first, refused, batchedWithIt }.Select(request => inserts.TryInsertAsync(request.Db, [request.Db.Entry(request.Token)])).ToList();
        (await writes[0]).Should().BeTrue();
        await FluentActions.Awaiting(() => writes[1]).Should().ThrowAsync<DbUpdateException>();
        (await writes[2]).Should().BeTrue("a neighbour's refused row must not fail this request");

        batchedWithIt.Db.Entry(batchedWithIt.Token).State.Should().Be(EntityState.Unchanged, "its row is written");
        refused.Db.Entry(refused.Token).State.Should().Be(EntityState.Added, "its row was never written");

        await using var scope = node.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
        var ids = new[] { first.Token.Id, refused.Token.Id, batchedWithIt.Token.Id };
        var stored = await db.Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking().Where(token => ids.Contains(token.Id)).Select(token => token.Id).ToListAsync();
        stored.Should().BeEquivalentTo([first.Token.Id, batchedWithIt.Token.Id]);
    }

    [Fact]
    public async Task Of_several_redemptions_of_one_token_in_one_batch_exactly_one_changes_the_row()
    {
        await using var node = await CustomServer.StartAsync();
        var holder = await SignedIn.StartAsync(node);
        var groups = node.Services.GetRequiredService<GroupCommit>();
        await using var stored = await RequestAsync(node, holder.ClientId);
        (await groups.TryInsertAsync(stored.Db, [stored.Db.Entry(stored.Token)])).Should().BeTrue();

        // A write in flight first, so the five redemptions queue behind it and go out together in the next batch.
        await using var leader = await RequestAsync(node, holder.ClientId);
        var writes = new List<Task<int?>> { groups.TryInsertAsync(leader.Db, [leader.Db.Entry(leader.Token)]).ContinueWith(_ => (int?)null, TaskScheduler.Default) };
        var statement = OAuthServer.Protocol.AtomicTokenRedemptionHandler.RedemptionStatement.For(stored.Db).Positional;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            writes.Add(groups.TryUpdateAsync(stored.Db, statement, stored.Token.Id!,
                [Statuses.Redeemed, DateTime.UtcNow, Guid.NewGuid().ToString(), stored.Token.Id!, Statuses.Valid]));
        }

        var changed = await Task.WhenAll(writes.Skip(1));
        changed.Should().OnlyContain(rows => rows == 0 || rows == 1);
        changed.Count(rows => rows == 1).Should().Be(1, "a single-use token is redeemed once, however the requests are batched");

        await using var scope = node.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
        (await db.Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking().Where(token => token.Id == stored.Token.Id).Select(token => token.Status).SingleAsync())
            .Should().Be(Statuses.Redeemed);
    }

    [Fact]
    public async Task On_sqlite_token_rows_go_through_savechanges_and_tokens_still_work()
    {
        await using var node = new SqliteOAuthServerFactory();
        await node.InitializeAsync();
        var holder = await SignedIn.StartAsync(node);
        await using var request = await RequestAsync(node, holder.ClientId);
        (await node.Services.GetRequiredService<GroupCommit>().TryInsertAsync(request.Db, [request.Db.Entry(request.Token)]))
            .Should().BeFalse("SQLite keeps EF's SaveChanges");

        using var api = node.CreateApiClient();
        var tokens = await holder.RedeemAsync(api);
        using var refreshed = await api.RefreshAsync(holder.ClientId, tokens.GetProperty("refresh_token").GetString()!);
        refreshed.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    // One request's context with one new access-token row of the client, added as the token store adds it.
    private static async Task<Request> RequestAsync(OAuthServerFactory node, string clientId)
    {
        var scope = node.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
        var client = await db.Set<OpenIddictEntityFrameworkCoreApplication>().SingleAsync(application => application.ClientId == clientId);
        var token = new OpenIddictEntityFrameworkCoreToken
        {
            Application = client, Type = TokenTypeIdentifiers.AccessToken, Status = Statuses.Valid, Subject = "grouped-inserts-test",
            CreationDate = DateTime.UtcNow, ExpirationDate = DateTime.UtcNow.AddMinutes(5),
        };
        db.Entry(token).State = EntityState.Added;
        return new(scope, db, token);
    }

    private sealed record Request(AsyncServiceScope Scope, OAuthDbContext Db, OpenIddictEntityFrameworkCoreToken Token) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Scope.DisposeAsync();
    }
}
