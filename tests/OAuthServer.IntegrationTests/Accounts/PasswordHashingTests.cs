using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>
/// Passwords are stored as peppered Argon2id hashes, re-made at login when the parameters or the
/// pepper change, and hashing is bounded so a login flood can't exhaust memory.
/// </summary>
public sealed class PasswordHashingTests
{
    [Fact]
    public async Task Hash_made_under_old_parameters_is_upgraded_at_the_next_login()
    {
        await using var before = await CustomServer.StartAsync(new() { ["Argon2:Iterations"] = "2" });
        var email = await before.CreateUserAsync();
        (await before.ReadUserAsync(email)).PasswordHash.Should().Contain("t=2");
        await using var after = await CustomServer.StartAsync(new() { ["Argon2:Iterations"] = "3" }, sharedConnectionString: before.ConnectionString);

        (await after.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);

        (await after.ReadUserAsync(email)).PasswordHash.Should().StartWith("$argon2id$v=19$m=19456,t=3,p=1$");
        (await after.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task Pepper_rotation_rehashes_at_login_and_the_old_pepper_can_then_be_dropped()
    {
        const string oldPepper = "the-first-pepper-0123456789abcdef";
        const string newPepper = "the-second-pepper-fedcba9876543210";
        await using var v1 = await CustomServer.StartAsync(new() { ["Argon2:Pepper"] = oldPepper, ["Argon2:PepperVersion"] = "1" });
        var email = await v1.CreateUserAsync();
        (await v1.ReadUserAsync(email)).PasswordHash.Should().Contain(",pv=1$");

        await using (var rotating = await CustomServer.StartAsync(
            new() { ["Argon2:Pepper"] = newPepper, ["Argon2:PepperVersion"] = "2", ["Argon2:PreviousPeppers:1"] = oldPepper },
            sharedConnectionString: v1.ConnectionString))
        {
            (await rotating.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
            (await rotating.ReadUserAsync(email)).PasswordHash.Should().Contain(",pv=2$");
        }

        await using var v2 = await CustomServer.StartAsync(
            new() { ["Argon2:Pepper"] = newPepper, ["Argon2:PepperVersion"] = "2" }, sharedConnectionString: v1.ConnectionString);
        (await v2.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await v2.LoginAsync(email, "wrong-password-attempt")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_login_flood_beyond_the_hash_limiter_gets_503_auth_busy_with_retry_after()
    {
        await using var node = await CustomServer.StartAsync(new() { ["Argon2:MaxConcurrentHashes"] = "1", ["Argon2:AcquireTimeout"] = "00:00:00.050" });
        var email = await node.CreateUserAsync();
        using var busy = new BusyCounter(node);

        var responses = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => node.LoginAsync(email, "wrong-password-attempt")));

        var refused = responses.Where(response => response.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        refused.Should().NotBeEmpty("24 parallel logins can't all get the single Argon2 slot within 50 ms");
        foreach (var response in refused)
        {
            response.Headers.RetryAfter.Should().NotBeNull();
            (await response.Content.ReadAsStringAsync()).Should().Be("auth busy");
        }

        responses.Should().OnlyContain(response => response.StatusCode == HttpStatusCode.ServiceUnavailable || response.StatusCode == HttpStatusCode.Unauthorized);
        busy.Count.Should().Be(refused.Count, "oauth_password_hash_busy counts every refusal");
    }

    [Fact]
    public async Task Bad_pepper_configuration_stops_start_up_with_the_key_named()
    {
        Exception? failure = null;
        try
        {
            await using var node = await CustomServer.StartAsync(new() { ["Argon2:Pepper"] = "short" });
        }
        catch (Exception exception)
        {
            failure = exception;
        }

        failure.Should().NotBeNull();
        failure!.ToString().Should().Contain("Argon2:Pepper/PepperFile must be at least 16 bytes long");
    }

    private sealed class BusyCounter : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private long _count;

        public BusyCounter(OAuthServerFactory server)
        {
            var meterFactory = server.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == meterFactory && instrument.Name == "oauth_password_hash_busy")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _count, value));
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }
}
