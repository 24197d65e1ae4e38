using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using OAuthServer.Data;
using OpenIddict.Abstractions;
using OpenIddict.EntityFrameworkCore.Models;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// Redeems single-use tokens (authorization codes, refresh tokens, PAR request tokens) with one atomic
/// conditional update, <c>status: valid → redeemed</c>, and counts the rows it changed. It replaces OpenIddict's
/// own <c>RedeemTokenEntry</c>, which redeems through an optimistic-concurrency update and, for refresh tokens,
/// ignores a failed redemption: two truly simultaneous uses of one refresh token could then both get tokens.
/// The database decides the race, so the guarantee holds across any number of nodes on one database.
/// </summary>
internal sealed class AtomicTokenRedemptionHandler(OAuthDbContext db, TokenReplays replays, RefreshRetryWindow retries, TimeProvider clock, GroupCommit groups)
    : IOpenIddictServerHandler<ProcessSignInContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireDegradedModeDisabled>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireTokenStorageEnabled>()
            .UseScopedHandler<AtomicTokenRedemptionHandler>()
            .SetOrder(OpenIddictServerHandlers.RedeemTokenEntry.Descriptor.Order)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessSignInContext context)
    {
        var authentication = context.Transaction.GetProperty<ProcessAuthenticationContext>(typeof(ProcessAuthenticationContext).FullName!)
            ?? throw new InvalidOperationException("The authentication context is missing.");
        var request = context.Request;
        var principal = context.EndpointType switch
        {
            OpenIddictServerEndpointType.Token when request.IsAuthorizationCodeGrantType() => authentication.AuthorizationCodePrincipal,
            OpenIddictServerEndpointType.Token when request.IsDeviceCodeGrantType() => authentication.DeviceCodePrincipal,
            OpenIddictServerEndpointType.Token when request.IsRefreshTokenGrantType() && !context.Options.DisableRollingRefreshTokens
                => authentication.RefreshTokenPrincipal,
            OpenIddictServerEndpointType.Authorization => authentication.RequestTokenPrincipal,
            OpenIddictServerEndpointType.EndUserVerification => authentication.UserCodePrincipal,
            _ => null,
        };

        var tokenId = principal?.GetTokenId();
        if (principal is null || string.IsNullOrEmpty(tokenId))
        {
            return;
        }

        // Note: an accepted retry repeats a redemption that already happened; it redeems nothing.
        if (string.Equals(RefreshRetryWindow.AcceptedIn(context.Transaction)?.RotatedId, tokenId, StringComparison.Ordinal))
        {
            return;
        }

        // Note: CancellationToken.None on every write here: a client that hangs up must not be able to stop a
        // redemption or a family revocation half-way.
        var now = clock.GetUtcNow().UtcDateTime;
        // Note: a new concurrency token makes any stale tracked copy of this row fail its own update.
        var concurrencyToken = Guid.NewGuid().ToString();
        // Note: on PostgreSQL the update shares a batch and a commit with concurrent requests' writes (GroupCommit);
        // its row count is still its own, and the row's lock decides a race across nodes as before.
        object[] parameters = [Statuses.Redeemed, now, concurrencyToken, tokenId, Statuses.Valid];
        var statement = RedemptionStatement.For(db);
        var redeemed = await groups.TryUpdateAsync(db, statement.Positional, tokenId, parameters)
            ?? await db.Database.ExecuteSqlRawAsync(statement.Formatted, parameters, CancellationToken.None);

        if (redeemed == 1)
        {
            // The row changed under the entity OpenIddict loaded earlier in this request. We know exactly what
            // the update wrote (it only applies to a valid row), so the tracked copy is brought up to date in
            // memory, as unchanged, instead of being read again.
            // (Properties named, not selected by lambdas: a lambda here would build an expression tree per request.)
            foreach (var entry in Data.TrackedEntries.Of<OpenIddictEntityFrameworkCoreToken>(db).Where(entry => entry.Entity.Id == tokenId))
            {
                Accept(entry.Property<string?>(nameof(OpenIddictEntityFrameworkCoreToken.Status)), Statuses.Redeemed);
                Accept(entry.Property<DateTime?>(nameof(OpenIddictEntityFrameworkCoreToken.RedemptionDate)), entry.Entity.RedemptionDate ?? now);
                Accept(entry.Property<string?>(nameof(OpenIddictEntityFrameworkCoreToken.ConcurrencyToken)), concurrencyToken);
            }

            return;
        }

        var isDeviceCode = principal.HasTokenType(TokenTypeIdentifiers.Private.DeviceCode);
        var isCode = isDeviceCode || principal.HasTokenType(TokenTypeIdentifiers.Private.AuthorizationCode);
        if (context.EndpointType != OpenIddictServerEndpointType.Token || !(isCode || principal.HasTokenType(TokenTypeIdentifiers.RefreshToken)))
        {
            context.Reject(Errors.InvalidToken, "The specified token is no longer valid.");
            return;
        }

        var status = await db.Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
            .Where(token => token.Id == tokenId).Select(token => token.Status).FirstOrDefaultAsync(CancellationToken.None);
        var kind = isDeviceCode ? "device code" : isCode ? "authorization code" : "refresh token";
        if (status == Statuses.Redeemed)
        {
            // Note: the winner may be this very client's first attempt, whose response it lost; inside the retry
            // window this request waits for the winner's successor and gets the same one.
            if (await retries.TryAcceptAsync(context.Transaction, principal, tokenId))
            {
                return;
            }

            // Note: another request redeemed this token between our read of it and our update: one of the two is
            // a replay (RFC 9700 §4.14.2 for refresh tokens, §4.5 / OAuth 2.1 §4.1.3 for codes). Nobody can tell
            // which is the legitimate client, so the whole family goes.
            await replays.RevokeFamilyAsync(context.Transaction, principal);
            context.Reject(Errors.InvalidGrant, $"The specified {kind} has already been redeemed.");
            return;
        }

        // Revoked (by a replay detected elsewhere, a revocation request or an administrator) or gone meanwhile.
        context.Reject(Errors.InvalidGrant, $"The specified {kind} is no longer valid.");
    }

    private static void Accept<T>(Microsoft.EntityFrameworkCore.ChangeTracking.PropertyEntry<OpenIddictEntityFrameworkCoreToken, T> property, T value)
    {
        property.CurrentValue = value;
        property.OriginalValue = value;
        property.IsModified = false;
    }

    /// <summary>
    /// The redemption as SQL: <c>status: valid → redeemed</c> on one row, keeping a redemption date already set and
    /// renewing the concurrency token. Parameters, in this order: redeemed, now, concurrency token, id, valid; as
    /// {0} ... {4} for EF's <c>ExecuteSqlRaw</c>, as $1 ... $5 for a batch of <see cref="GroupCommit"/>.
    /// </summary>
    /// <remarks>
    /// Note: written out rather than as EF's <c>ExecuteUpdate</c>, which re-examined its expression tree on every
    /// redemption (parameter extraction and the query-cache key were ~8 % of a refresh's CPU, issue 15). The table
    /// and column names come from the model and are quoted by the provider, so the statement follows the mapping on
    /// PostgreSQL and SQLite alike; every value is a parameter, none is ever part of the text.
    /// </remarks>
    internal static class RedemptionStatement
    {
        private static readonly ConditionalWeakTable<IModel, Forms> Statements = [];

        internal sealed record Forms(string Formatted, string Positional);

        // Note: looked up without a callback, as Data/CompiledQuery does: a lambda capturing the context would be
        // allocated on every redemption, not only the first of each model.
        public static Forms For(DbContext db) => Statements.TryGetValue(db.Model, out var statement) ? statement : Remember(db);

        private static Forms Remember(DbContext db)
        {
            var formatted = Build(db.Model, db.GetService<ISqlGenerationHelper>());
            var statement = new Forms(formatted, string.Format(System.Globalization.CultureInfo.InvariantCulture, formatted, "$1", "$2", "$3", "$4", "$5"));
            Statements.AddOrUpdate(db.Model, statement);
            return statement;
        }

        private static string Build(IModel model, ISqlGenerationHelper sql)
        {
            var entity = model.FindEntityType(typeof(OpenIddictEntityFrameworkCoreToken))
                ?? throw new InvalidOperationException("The token entity is not in the model.");
            var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            string Column(string property) => sql.DelimitIdentifier(entity.FindProperty(property)!.GetColumnName(table)!);
            var status = Column(nameof(OpenIddictEntityFrameworkCoreToken.Status));
            var redemptionDate = Column(nameof(OpenIddictEntityFrameworkCoreToken.RedemptionDate));
            return $"UPDATE {sql.DelimitIdentifier(table.Name, table.Schema)} SET {status} = {{0}}, "
                + $"{redemptionDate} = COALESCE({redemptionDate}, {{1}}), {Column(nameof(OpenIddictEntityFrameworkCoreToken.ConcurrencyToken))} = {{2}} "
                + $"WHERE {Column(nameof(OpenIddictEntityFrameworkCoreToken.Id))} = {{3}} AND {status} = {{4}}";
        }
    }
}
