using OAuthServer.Accounts;

namespace OAuthServer.UnitTests.Accounts;

public sealed class AccountGateTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    private static User NewUser() => new() { Email = "a@example.com", NormalizedEmail = "a@example.com", PasswordHash = "x" };

    [Fact]
    public void Active_user_is_allowed() => new AccountGate(new FixedClock(Now)).Check(NewUser()).Should().Be(GateVerdict.Allowed);

    [Fact]
    public void Missing_user_is_refused() => new AccountGate(new FixedClock(Now)).Check(null).Should().Be(GateVerdict.Missing);

    [Fact]
    public void Disabled_user_is_refused()
    {
        var user = NewUser();
        user.Status = AccountStatus.Disabled;

        new AccountGate(new FixedClock(Now)).Check(user).Should().Be(GateVerdict.Disabled);
    }

    [Fact]
    public void Locked_user_is_refused_until_the_lock_ends()
    {
        var user = NewUser();
        user.LockedUntil = Now.UtcDateTime.AddMinutes(5);

        new AccountGate(new FixedClock(Now)).Check(user).Should().Be(GateVerdict.Locked);
        new AccountGate(new FixedClock(Now.AddMinutes(5).AddTicks(1))).Check(user).Should().Be(GateVerdict.Allowed);
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
