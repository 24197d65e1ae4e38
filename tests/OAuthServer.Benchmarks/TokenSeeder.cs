using System.Diagnostics;
using System.Security.Cryptography;
using Npgsql;
using NpgsqlTypes;

namespace OAuthServer.Benchmarks;

/// <summary>
/// Fills OpenIddictTokens to a given row count with one binary COPY: a mix like a busy server's table (two
/// access-token entries per redeemed refresh token, a valid refresh token per family), spread over 20,000
/// subjects and the benchmark's client. Payloads are left empty: what grows with the table is its indexes.
/// </summary>
internal static class TokenSeeder
{
    public static async Task<long> CountAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM \"OpenIddictTokens\"", connection);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// Brings the table to the state a long-running server's table is in before each measurement: vacuumed
    /// (visibility map set, so index-only checks skip the heap), analysed, and with the bulk load's dirty pages
    /// written by a checkpoint. Without it the first seconds after a million-row COPY measure PostgreSQL's own
    /// catch-up (autovacuum, the checkpoint), not the token lookups, and both table sizes get the same treatment.
    /// </summary>
    private static async Task SettleAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        foreach (var statement in new[] { "VACUUM (ANALYZE) \"OpenIddictTokens\"", "CHECKPOINT" })
        {
            await using var command = new NpgsqlCommand(statement, connection) { CommandTimeout = 600 };
            await command.ExecuteNonQueryAsync();
        }
    }

    public static async Task<long> FillToAsync(string connectionString, long target)
    {
        var existing = await CountAsync(connectionString);
        var missing = target - existing;
        if (missing <= 0)
        {
            await SettleAsync(connectionString);
            return existing;
        }

        var clock = Stopwatch.StartNew();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        string applicationId;
        await using (var find = new NpgsqlCommand("SELECT \"Id\" FROM \"OpenIddictApplications\" WHERE \"ClientId\" = @id", connection))
        {
            find.Parameters.AddWithValue("id", ServerUnderTest.PublicClientId);
            applicationId = (string)(await find.ExecuteScalarAsync())!;
        }

        var now = DateTime.UtcNow;
        var subjects = Enumerable.Range(0, 20_000).Select(_ => Guid.NewGuid().ToString()).ToArray();
        await using (var writer = await connection.BeginBinaryImportAsync("""
            COPY "OpenIddictTokens" ("Id", "ApplicationId", "ConcurrencyToken", "CreationDate", "ExpirationDate",
                                     "RedemptionDate", "ReferenceId", "Status", "Subject", "Type") FROM STDIN (FORMAT BINARY)
            """))
        {
            var referenceBytes = new byte[32];
            for (var i = 0L; i < missing; i++)
            {
                var kind = i % 4; // 0,1: access token entries; 2: redeemed refresh token; 3: valid refresh token
                var created = now.AddSeconds(-(i % 1_209_600));
                await writer.StartRowAsync();
                await writer.WriteAsync(Guid.NewGuid().ToString(), NpgsqlDbType.Text);
                await writer.WriteAsync(applicationId, NpgsqlDbType.Text);
                await writer.WriteAsync(Guid.NewGuid().ToString(), NpgsqlDbType.Varchar);
                await writer.WriteAsync(created, NpgsqlDbType.TimestampTz);
                await writer.WriteAsync(created.AddDays(kind < 2 ? 0.007 : 14), NpgsqlDbType.TimestampTz);
                if (kind == 2)
                {
                    await writer.WriteAsync(created.AddMinutes(10), NpgsqlDbType.TimestampTz);
                }
                else
                {
                    await writer.WriteNullAsync();
                }

                if (kind < 2)
                {
                    await writer.WriteNullAsync();
                }
                else
                {
                    RandomNumberGenerator.Fill(referenceBytes);
                    await writer.WriteAsync(Convert.ToBase64String(referenceBytes), NpgsqlDbType.Varchar);
                }

                await writer.WriteAsync(kind == 2 ? "redeemed" : "valid", NpgsqlDbType.Varchar);
                await writer.WriteAsync(subjects[i % subjects.Length], NpgsqlDbType.Varchar);
                await writer.WriteAsync(kind < 2 ? "access_token" : "refresh_token", NpgsqlDbType.Varchar);
            }

            await writer.CompleteAsync();
        }

        await SettleAsync(connectionString);
        var total = await CountAsync(connectionString);
        ServerUnderTest.Log($"seeded {missing:N0} token rows in {clock.Elapsed.TotalSeconds:F1}s (binary COPY); table now {total:N0}");
        return total;
    }
}
