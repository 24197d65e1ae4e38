using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;
using OpenIddict.EntityFrameworkCore.Models;
using Xunit.Abstractions;

namespace OAuthServer.IntegrationTests.Reliability;

/// <summary>
/// auth-rs "dependency outage" under load: PostgreSQL is cut (through a TCP proxy of this test's own, so other
/// tests keep their database) while clients keep refreshing. Answers stay fast 503s, readiness goes false, the
/// server recovers by itself, and no token family is left half-rotated.
/// </summary>
public sealed class DatabaseOutageUnderLoadTests(ITestOutputHelper output)
{
    private const int Families = 8;
    private const int CommandTimeoutSeconds = 5;

    [Fact]
    public async Task Cutting_the_database_mid_load_gives_fast_503s_and_leaves_every_family_usable_or_cleanly_revoked()
    {
        await using var database = await TestDatabase.CreateMigratedAsync("oauth_outage_load");
        var upstream = new NpgsqlConnectionStringBuilder(database.ConnectionString);
        await using var proxy = new TcpProxy(upstream.Port);
        proxy.Start();
        var throughProxy = new NpgsqlConnectionStringBuilder(upstream.ConnectionString)
        {
            Port = proxy.Port, Timeout = 3, CommandTimeout = CommandTimeoutSeconds,
        }.ConnectionString;
        {
            await using var node = await CustomServer.StartAsync(sharedConnectionString: throughProxy);
            using var api = node.CreateApiClient();
            var families = new List<Family>();
            for (var index = 0; index < Families; index++)
            {
                var signedIn = await SignedIn.StartAsync(node);
                families.Add(new Family(signedIn.ClientId, (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!));
            }

            var statuses = new ConcurrentDictionary<int, int>();
            var outageLatencies = new ConcurrentBag<double>();
            var outage = false;
            using var stop = new CancellationTokenSource();
            var load = families.Select(family => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested && !family.Revoked)
                {
                    var inOutage = Volatile.Read(ref outage);
                    var clock = Stopwatch.StartNew();
                    using var response = await api.RefreshAsync(family.ClientId, family.RefreshToken);
                    if (inOutage)
                    {
                        outageLatencies.Add(clock.Elapsed.TotalSeconds);
                    }

                    statuses.AddOrUpdate((int)response.StatusCode, 1, (_, count) => count + 1);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        family.RefreshToken = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("refresh_token").GetString()!;
                        family.Rotations++;
                    }
                    else if (response.StatusCode == HttpStatusCode.BadRequest)
                    {
                        // Redeemed before the cut, its successor never delivered: presenting it again is a replay.
                        family.Revoked = true;
                    }
                    else if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                    {
                        (await BrowserFlow.JsonAsync(response)).GetProperty("error").GetString().Should().Be("temporarily_unavailable");
                        response.Headers.RetryAfter.Should().NotBeNull();
                    }

                    await Task.Delay(20);
                }
            })).ToList();

            await Task.Delay(TimeSpan.FromSeconds(2));
            Volatile.Write(ref outage, true);
            await proxy.StopAsync();
            await Task.Delay(TimeSpan.FromSeconds(3));
            (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable, "readiness is false while the database is away");
            (await api.GetAsync("/health/live")).StatusCode.Should().Be(HttpStatusCode.OK, "the process is alive");

            proxy.Start();
            Volatile.Write(ref outage, false);
            var recovered = Stopwatch.StartNew();
            while ((await api.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK && recovered.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(200);
            }

            (await api.GetAsync("/health/ready")).StatusCode.Should().Be(HttpStatusCode.OK, "the server recovers by itself");
            var recoverySeconds = recovered.Elapsed.TotalSeconds;
            await Task.Delay(TimeSpan.FromSeconds(1));
            await stop.CancelAsync();
            await Task.WhenAll(load);

            // No family is half-rotated: never two live refresh tokens, and the client's latest token either works
            // or its whole family is revoked.
            var liveRefreshTokensPerFamily = await node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>()
                .Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
                .Where(token => token.Type!.EndsWith("refresh_token") && token.Status == "valid" && token.Authorization != null && token.Authorization.Status == "valid")
                .GroupBy(token => token.Authorization!.Id).Select(group => group.Count()).ToListAsync());
            liveRefreshTokensPerFamily.Should().NotContain(count => count > 1, "a family never has two live refresh tokens");

            var usable = 0;
            var revoked = 0;
            foreach (var family in families)
            {
                var response = await api.RefreshAsync(family.ClientId, family.RefreshToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    usable++;
                    continue;
                }

                await response.ShouldFailWithAsync("invalid_grant");
                var subjectStatuses = await node.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>()
                    .Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
                    .Where(token => token.Application!.ClientId == family.ClientId && token.Authorization != null)
                    .Select(token => token.Authorization!.Status).Distinct().ToListAsync());
                subjectStatuses.Should().Equal(["revoked"], "a family whose latest token fails must be revoked as a whole");
                revoked++;
            }

            statuses.Keys.Should().NotContain(status => status >= 500 && status != 503, "an outage is a 503, never a 500");
            statuses.Should().ContainKey(503, "the load ran through the outage");
            outageLatencies.Max().Should().BeLessThan(CommandTimeoutSeconds + 10, "no request hangs past the command timeout");
            var sorted = outageLatencies.Order().ToList();
            output.WriteLine($"{Families} families, {families.Sum(family => family.Rotations)} rotations; statuses: "
                + string.Join(", ", statuses.OrderBy(pair => pair.Key).Select(pair => $"{pair.Key} x{pair.Value}")));
            output.WriteLine($"during the outage: {sorted.Count} answers, median {sorted[sorted.Count / 2] * 1000:F0} ms, max {sorted[^1] * 1000:F0} ms (command timeout {CommandTimeoutSeconds} s)");
            output.WriteLine($"ready again {recoverySeconds:F1} s after the database returned; families usable {usable}, cleanly revoked {revoked}");
            (usable + revoked).Should().Be(Families);
        }
    }

    private sealed class Family(string clientId, string refreshToken)
    {
        public string ClientId { get; } = clientId;

        public string RefreshToken { get; set; } = refreshToken;

        public int Rotations { get; set; }

        public bool Revoked { get; set; }
    }
}
