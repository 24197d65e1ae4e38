using Npgsql;
using OAuthServer.IntegrationTests.Infrastructure;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.IntegrationTests.Storage;

/// <summary>
/// Issue 15: no row written and then rewritten at once. Each row of a sign-in's token family (the ad-hoc
/// authorization, the code, the tokens the code is exchanged for) is inserted once and complete; the only update
/// is the one that must happen, the code's redemption. A PostgreSQL trigger records every update of a token row.
/// </summary>
public sealed class TokenRowWritesTests
{
    [Fact]
    public async Task An_authorization_response_writes_its_authorization_and_code_once_in_one_transaction_and_the_exchange_updates_only_the_code()
    {
        await using var node = await CustomServer.StartAsync();
        await ExecuteAsync(node, """
            CREATE TABLE token_row_updates ("Id" text, "Type" text);
            CREATE FUNCTION record_token_row_update() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO token_row_updates VALUES (OLD."Id", OLD."Type"); RETURN NEW; END $$;
            CREATE TRIGGER record_token_row_update BEFORE UPDATE ON "OpenIddictTokens"
            FOR EACH ROW EXECUTE FUNCTION record_token_row_update();
            """);

        var signedIn = await SignedIn.StartAsync(node);

        await using var connection = new NpgsqlConnection(node.ConnectionString);
        await connection.OpenAsync();
        (await ScalarAsync<long>(connection, "SELECT count(*) FROM token_row_updates")).Should().Be(0, "the code's row is inserted with its payload, not inserted and then updated");
        await using (var command = new NpgsqlCommand("""
            SELECT t."Id", t."Payload" IS NOT NULL, t."ReferenceId" IS NOT NULL, t.xmin::text = a.xmin::text
            FROM "OpenIddictTokens" t JOIN "OpenIddictAuthorizations" a ON a."Id" = t."AuthorizationId"
            WHERE t."Type" = $1
            """, connection) { Parameters = { new() { Value = TokenTypeIdentifiers.Private.AuthorizationCode } } })
        await using (var reader = await command.ExecuteReaderAsync())
        {
            (await reader.ReadAsync()).Should().BeTrue("the code has a row, with its authorization");
            reader.GetBoolean(1).Should().BeTrue("the row holds the code's payload");
            reader.GetBoolean(2).Should().BeTrue("the row holds the code's reference id");
            reader.GetBoolean(3).Should().BeTrue("the authorization and the code were committed by one transaction");
            (await reader.ReadAsync()).Should().BeFalse("one code per authorization response");
        }

        using var api = node.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(api);
        tokens.GetProperty("refresh_token").GetString().Should().NotBeNullOrEmpty();

        (await ScalarAsync<string>(connection, "SELECT string_agg(\"Type\", ',') FROM token_row_updates"))
            .Should().Be(TokenTypeIdentifiers.Private.AuthorizationCode, "the exchange updates the code (its redemption) and inserts its tokens complete");
        (await ScalarAsync<long>(connection, "SELECT count(*) FROM \"OpenIddictTokens\" WHERE \"Type\" = $1", TokenTypeIdentifiers.RefreshToken))
            .Should().Be(1);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, string? parameter = null)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        if (parameter is not null)
        {
            command.Parameters.Add(new() { Value = parameter });
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(OAuthServerFactory node, string sql)
    {
        await using var connection = new NpgsqlConnection(node.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
