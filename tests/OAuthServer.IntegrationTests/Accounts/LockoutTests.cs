using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>
/// Threat model 1.2: failed logins lock the account (by default after 5 failures, for a minute, doubling with each
/// further lock), exactly once under parallel guesses; the lock lives in the database, so every node enforces it.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class LockoutTests(OAuthServerFactory server)
{
    [Fact]
    public async Task Five_failures_lock_the_account_and_unlock_opens_it_again()
    {
        var email = await server.CreateUserAsync();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            (await server.LoginAsync(email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        var user = await server.ReadUserAsync(email);
        user.LockedUntil.Should().BeCloseTo(DateTime.UtcNow.AddMinutes(1), TimeSpan.FromSeconds(30));
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the right password does not open a locked account");

        (await server.AdministerAsync(email, (accounts, id) => accounts.UnlockAsync(id, AccountHelpers.TestOrigin))).Should().BeNull();

        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        var events = (await server.EventsForAsync(user.Id)).Select(item => item.Type).ToList();
        events.Should().ContainInOrder("login.failed", "account.locked", "account.unlocked", "login.succeeded");
        events.Count(type => type == "account.locked").Should().Be(1);
    }

    [Fact]
    public async Task Success_resets_the_failure_count()
    {
        var email = await server.CreateUserAsync();
        for (var attempt = 0; attempt < 4; attempt++)
        {
            await server.LoginAsync(email, "wrong-password-attempt");
        }

        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        await server.LoginAsync(email, "wrong-password-attempt");

        var user = await server.ReadUserAsync(email);
        user.FailedLoginCount.Should().Be(1);
        user.LockedUntil.Should().BeNull();
    }

    [Fact]
    public async Task Parallel_failures_lose_no_increment()
    {
        // A long acquire timeout: every attempt must reach the password check, none may be refused as busy.
        await using var node = await CustomServer.StartAsync(new() { ["Lockout:MaxFailures"] = "1000", ["Argon2:AcquireTimeout"] = "00:01:00" });
        var email = await node.CreateUserAsync();

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => node.LoginAsync(email, "wrong-password-attempt")));

        responses.Should().OnlyContain(response => response.StatusCode == HttpStatusCode.Unauthorized);
        (await node.ReadUserAsync(email)).FailedLoginCount.Should().Be(12);
    }

    [Fact]
    public async Task Parallel_failures_past_the_limit_lock_exactly_once()
    {
        var email = await server.CreateUserAsync();
        var user = await server.ReadUserAsync(email);

        await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => server.LoginAsync(email, "wrong-password-attempt")));

        (await server.ReadUserAsync(email)).LockedUntil.Should().NotBeNull();
        (await server.EventsForAsync(user.Id)).Count(item => item.Type == "account.locked").Should().Be(1);
    }

    [Fact]
    public async Task Each_further_lockout_doubles_the_lock_up_to_the_maximum()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
        await using var node = await CustomServer.StartAsync(
            new() { ["Lockout:MaxFailures"] = "3", ["Lockout:BaseDuration"] = "00:01:00", ["Lockout:MaxDuration"] = "00:03:00" },
            services: services => services.AddSingleton<TimeProvider>(clock));
        var email = await node.CreateUserAsync();

        var locks = new List<TimeSpan>();
        for (var round = 0; round < 4; round++)
        {
            for (var attempt = 0; attempt < 3; attempt++)
            {
                await node.LoginAsync(email, "wrong-password-attempt");
            }

            var lockedUntil = (await node.ReadUserAsync(email)).LockedUntil!.Value;
            locks.Add(lockedUntil - clock.GetUtcNow().UtcDateTime);
            clock.Advance(lockedUntil - clock.GetUtcNow().UtcDateTime + TimeSpan.FromSeconds(1));
        }

        locks.Should().Equal(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(3), TimeSpan.FromMinutes(3));
        (await node.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "the last lock has run out");
        (await node.ReadUserAsync(email)).LockoutCount.Should().Be(0, "a success resets the backoff");
    }

    [Fact]
    public async Task A_lock_taken_on_one_node_holds_on_another_node_of_the_same_database()
    {
        var first = server;
        await using var second = await CustomServer.StartAsync(sharedConnectionString: first.ConnectionString);
        var email = await first.CreateUserAsync();

        for (var attempt = 0; attempt < 5; attempt++)
        {
            await first.LoginAsync(email, "wrong-password-attempt");
        }

        (await second.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await first.ReadUserAsync(email)).LockedUntil.Should().NotBeNull();
    }
}
