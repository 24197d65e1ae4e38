using OAuthServer.Admin;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.IntegrationTests.Infrastructure;
using OpenIddict.Abstractions;
using OpenIddict.EntityFrameworkCore.Models;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.IntegrationTests.Reliability;

/// <summary>The pruner removes dead tokens, dead authorizations, old published events and unpublished ones past their retention, and nothing else.</summary>
public sealed class PruningTests
{
    [Fact]
    public async Task Pruning_removes_what_is_dead_and_past_retention_and_keeps_everything_else()
    {
        // A day between runs: the test drives one run itself.
        await using var node = await CustomServer.StartAsync(new() { ["Pruning:Interval"] = "1.00:00:00" });
        var (clientId, _) = await node.CreatePublicClientAsync();
        var now = DateTimeOffset.UtcNow;
        var old = now.AddDays(-30);
        var recent = now.AddHours(-1);

        var rows = await node.WithScopeAsync(async services =>
        {
            var applications = services.GetRequiredService<IOpenIddictApplicationManager>();
            var authorizations = services.GetRequiredService<IOpenIddictAuthorizationManager>();
            var tokens = services.GetRequiredService<IOpenIddictTokenManager>();
            var applicationId = await applications.GetIdAsync((await applications.FindByClientIdAsync(clientId))!);

            async Task<string> Authorization(string status, DateTimeOffset created, string type = AuthorizationTypes.Permanent) =>
                (await authorizations.GetIdAsync(await authorizations.CreateAsync(new OpenIddictAuthorizationDescriptor
                {
                    ApplicationId = applicationId, Subject = "prune-test", Status = status, Type = type, CreationDate = created,
                })))!;

            async Task<string> Token(string? authorizationId, string status, DateTimeOffset created, DateTimeOffset expires) =>
                (await tokens.GetIdAsync(await tokens.CreateAsync(new OpenIddictTokenDescriptor
                {
                    ApplicationId = applicationId, AuthorizationId = authorizationId, Subject = "prune-test", Status = status,
                    Type = TokenTypeHints.RefreshToken, CreationDate = created, ExpirationDate = expires,
                })))!;

            var live = await Authorization(Statuses.Valid, old);
            var dead = await Authorization(Statuses.Revoked, old);
            var kept = new List<string>
            {
                live,
                await Token(live, Statuses.Valid, old, now.AddDays(1)),           // alive, however old
                await Token(live, Statuses.Revoked, recent, now.AddDays(1)),      // dead, but within retention
                await Token(live, Statuses.Valid, recent, now.AddMinutes(-1)),    // expired, but within retention
                await Authorization(Statuses.Revoked, recent),                    // dead, but within retention
            };
            var pruned = new List<string>
            {
                dead,
                await Authorization(Statuses.Valid, old, AuthorizationTypes.AdHoc), // ad-hoc with no token left
                await Token(live, Statuses.Redeemed, old, now.AddDays(1)),
                await Token(live, Statuses.Valid, old, now.AddDays(-1)),          // expired
                await Token(dead, Statuses.Valid, old, now.AddDays(1)),           // of a revoked authorization
            };

            var db = services.GetRequiredService<OAuthDbContext>();
            SecurityEvent Event(DateTimeOffset occurred, DateTimeOffset? published) => new()
            {
                Type = SecurityEventTypes.LoginSucceeded, OccurredAt = occurred.UtcDateTime, PublishedAt = published?.UtcDateTime,
            };
            var publishedLongAgo = Event(old, old);
            var publishedRecently = Event(recent, recent);
            var neverPublished = Event(now.AddDays(-20), null);                  // unpublished, within Pruning:UnpublishedEventRetention
            var neverPublishedPastRetention = Event(now.AddDays(-31), null);
            db.SecurityEvents.AddRange(publishedLongAgo, publishedRecently, neverPublished, neverPublishedPastRetention);
            AuditEntry Audit(DateTimeOffset occurred) => new()
            {
                OccurredAt = occurred.UtcDateTime, Actor = "prune-test", Action = "client.updated", TargetType = "client", TargetId = clientId,
            };
            var auditPastRetention = Audit(now.AddDays(-500));
            var auditWithinRetention = Audit(old);
            db.AuditLog.AddRange(auditPastRetention, auditWithinRetention);
            await db.SaveChangesAsync();
            return (Kept: kept, Pruned: pruned, KeptEvents: new[] { publishedRecently.Id, neverPublished.Id }, PrunedEvents: new[] { publishedLongAgo.Id, neverPublishedPastRetention.Id },
                KeptAudit: auditWithinRetention.Id, PrunedAudit: auditPastRetention.Id);
        });

        var removed = await node.Services.GetRequiredService<DatabasePruner>().PruneOnceAsync(CancellationToken.None);

        removed.Should().BeEquivalentTo(new Dictionary<string, long> { ["tokens and authorizations"] = 5, ["published security events"] = 1,
            ["unpublished security events past Pruning:UnpublishedEventRetention"] = 1, ["audit rows"] = 1, ["spent ids"] = 0, ["ended and expired browser sessions"] = 0, ["password resets"] = 0 });
        var (tokenIds, authorizationIds, eventIds, auditIds) = await node.WithScopeAsync(async services =>
        {
            var db = services.GetRequiredService<OAuthDbContext>();
            return (await db.Set<OpenIddictEntityFrameworkCoreToken>().Select(token => token.Id!).ToListAsync(),
                await db.Set<OpenIddictEntityFrameworkCoreAuthorization>().Select(authorization => authorization.Id!).ToListAsync(),
                await db.SecurityEvents.Select(item => item.Id).ToListAsync(),
                await db.AuditLog.Select(entry => entry.Id).ToListAsync());
        });
        auditIds.Should().Contain(rows.KeptAudit, "an audit row within Pruning:AuditRetention stays").And.NotContain(rows.PrunedAudit);
        var remaining = tokenIds.Concat(authorizationIds).ToList();
        remaining.Should().Contain(rows.Kept);
        remaining.Should().NotContain(rows.Pruned);
        eventIds.Should().Contain(rows.KeptEvents).And.NotContain(rows.PrunedEvents);
    }

    [Fact]
    public async Task Token_retention_shorter_than_the_refresh_token_lifetime_stops_the_server_at_start_up()
    {
        var failure = await Record.ExceptionAsync(() => CustomServer.StartAsync(new()
        {
            ["Tokens:RefreshTokenLifetime"] = "14.00:00:00",
            ["Pruning:TokenRetention"] = "1.00:00:00",
        }));

        failure.Should().NotBeNull();
        Flatten(failure!).OfType<OptionsValidationException>().SelectMany(exception => exception.Failures)
            .Should().Contain(message => message.Contains("Pruning:TokenRetention", StringComparison.Ordinal));
    }

    private static IEnumerable<Exception> Flatten(Exception exception) =>
        exception is AggregateException aggregate ? aggregate.InnerExceptions.SelectMany(Flatten)
        : exception.InnerException is { } inner ? new[] { exception }.Concat(Flatten(inner)) : [exception];
}
