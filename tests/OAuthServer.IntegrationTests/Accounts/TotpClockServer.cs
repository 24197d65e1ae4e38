using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>
/// A server whose clock the test moves (the only thing faked): TOTP steps, the pending sign-in's five minutes and the
/// lockout are all read from it, so a test makes a fresh code by moving 30 seconds instead of waiting.
/// </summary>
public class TotpClockServer : OAuthServerFactory
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    /// <summary>Moves to the next TOTP step and returns the time there.</summary>
    public DateTimeOffset NextStep()
    {
        Clock.Advance(TimeSpan.FromSeconds(30));
        return Clock.GetUtcNow();
    }

    protected override void ConfigureTestServices(IServiceCollection services) => services.AddSingleton<TimeProvider>(Clock);
}

/// <summary>The same, with a failure budget so large that every one of a burst of parallel attempts is judged.</summary>
public sealed class TotpRaceServer : TotpClockServer
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Lockout:MaxFailures"] = "100" };
}
