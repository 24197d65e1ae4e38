using OAuthServer.Accounts;

namespace OAuthServer.UnitTests.Accounts;

public sealed class AccountGateTests
{
    private static User NewUser() => new() { Email = "a@example.com", NormalizedEmail = "a@example.com", PasswordHash = "x" };

    [Fact]
    public void Active_user_is_allowed() => new AccountGate().Check(NewUser()).Should().Be(GateVerdict.Allowed);

    [Fact]
    public void Missing_user_is_refused() => new AccountGate().Check(null).Should().Be(GateVerdict.Missing);

    [Fact]
    public void Disabled_user_is_refused()
    {
        var user = NewUser();
        user.Status = AccountStatus.Disabled;

        new AccountGate().Check(user).Should().Be(GateVerdict.Disabled);
    }

    [Fact]
    public void Operator_locked_user_is_refused()
    {
        var user = NewUser();
        user.Status = AccountStatus.Locked;

        new AccountGate().Check(user).Should().Be(GateVerdict.Locked);
    }

    [Fact]
    public void The_automatic_lockout_is_not_an_account_state()
    {
        // Threat model 1.2: anyone can trigger the automatic lockout, so it must not refuse the owner's tokens.
        var user = NewUser();
        user.LockedUntil = DateTime.UtcNow.AddHours(1);

        new AccountGate().Check(user).Should().Be(GateVerdict.Allowed);
    }
}
