using Microsoft.Extensions.DependencyInjection;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.Protocol.SingleUse;

namespace OAuthServer.IntegrationTests.Storage;

/// <summary>
/// The single-use id ledger behind client-assertion and DPoP-proof jti checks: one spend wins however many requests
/// race for it, on both stores, and ids are kept apart by purpose and owner.
/// </summary>
public abstract class SpentIdsTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Of_many_simultaneous_spends_of_one_id_exactly_one_succeeds()
    {
        var id = Guid.NewGuid().ToString("N");
        var until = DateTimeOffset.UtcNow.AddMinutes(5);

        // Note: each spend has its own scope, so its own DbContext and connection, like concurrent requests.
        var spends = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() =>
            server.WithScopeAsync(services => services.GetRequiredService<SpentIds>().TrySpendAsync(SpentIdPurposes.ClientAssertion, "client-a", id, until)))));

        spends.Count(spent => spent).Should().Be(1);
        (await Spend(SpentIdPurposes.ClientAssertion, "client-a", id, until)).Should().BeFalse("the id was spent");
    }

    [Fact]
    public async Task Ids_are_kept_apart_by_purpose_and_owner()
    {
        var id = Guid.NewGuid().ToString("N");
        var until = DateTimeOffset.UtcNow.AddMinutes(5);

        (await Spend(SpentIdPurposes.ClientAssertion, "client-a", id, until)).Should().BeTrue();
        (await Spend(SpentIdPurposes.ClientAssertion, "client-b", id, until)).Should().BeTrue("another client's assertion may reuse the value");
        (await Spend(SpentIdPurposes.DpopProof, "client-a", id, until)).Should().BeTrue("a DPoP proof's jti is another ledger");
        (await Spend(SpentIdPurposes.ClientAssertion, "client-ab", id[1..], until)).Should().BeTrue("owner and id can't be shifted into each other");
        (await Spend(SpentIdPurposes.ClientAssertion, "client-a", new string('x', SpentIds.MaxIdLength + 1), until)).Should().BeFalse("an oversized id is refused");
    }

    [Fact]
    public async Task The_pruner_forgets_only_expired_ids()
    {
        var expired = Guid.NewGuid().ToString("N");
        var live = Guid.NewGuid().ToString("N");
        (await Spend(SpentIdPurposes.DpopProof, "jkt", expired, DateTimeOffset.UtcNow.AddMinutes(-1))).Should().BeTrue();
        (await Spend(SpentIdPurposes.DpopProof, "jkt", live, DateTimeOffset.UtcNow.AddMinutes(5))).Should().BeTrue();

        await server.Services.GetRequiredService<DatabasePruner>().PruneOnceAsync(CancellationToken.None);

        var hashes = await server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().SpentIds
            .Where(spent => spent.Hash == SpentIds.Hash(SpentIdPurposes.DpopProof, "jkt", expired) || spent.Hash == SpentIds.Hash(SpentIdPurposes.DpopProof, "jkt", live))
            .Select(spent => spent.Hash).ToListAsync());
        hashes.Should().Equal(SpentIds.Hash(SpentIdPurposes.DpopProof, "jkt", live));
    }

    private Task<bool> Spend(string purpose, string owner, string id, DateTimeOffset until) =>
        server.WithScopeAsync(services => services.GetRequiredService<SpentIds>().TrySpendAsync(purpose, owner, id, until));
}

[Collection(SharedPostgresServer.Name)]
public sealed class PostgresSpentIdsTests(OAuthServerFactory server) : SpentIdsTests(server);

public sealed class SqliteSpentIdsTests(SqliteOAuthServerFactory server) : SpentIdsTests(server), IClassFixture<SqliteOAuthServerFactory>;
