using OAuthServer.Accounts;

namespace OAuthServer.UnitTests.Accounts;

public sealed class PasswordPolicyTests
{
    [Fact]
    public void Shipped_list_has_at_least_ten_thousand_passwords() => PasswordPolicy.CommonPasswordCount.Should().BeGreaterThanOrEqualTo(10_000);

    [Theory]
    [InlineData("short-pass1", "password_too_short")]
    [InlineData("1q2w3e4r5t6y", "password_common")]
    [InlineData("Password2024!", "password_common")]
    [InlineData("dragondragon", "password_common")]
    [InlineData("aaaaaaaaaaaaaaaa", "password_repetitive")]
    [InlineData("123456789012", "password_repetitive")]
    [InlineData("abcdefghijklmn", "password_repetitive")]
    [InlineData("my-name-is-jdoe-really", "password_contains_email")]
    public void Weak_passwords_are_refused_with_the_rule_that_failed(string password, string code) =>
        PasswordPolicy.Check(password, "JDoe@example.com")!.Code.Should().Be(code);

    [Fact]
    public void Too_long_is_refused() => PasswordPolicy.Check(new string('x', 60) + new string('y', 69), "a@example.com")!.Code.Should().Be("password_too_long");

    [Theory]
    [InlineData("correct horse battery staple")]
    [InlineData("lowercase only but long enough")]
    [InlineData("ünïcödé pässwörd ✓")]
    public void Long_uncommon_passwords_pass_without_composition_rules(string password) =>
        PasswordPolicy.Check(password, "jdoe@example.com").Should().BeNull();

    [Fact]
    public void Length_counts_code_points_after_NFKC_not_UTF16_units()
    {
        // 12 emoji are 24 UTF-16 units but 12 code points: long enough. 11 are not.
        const string twelve = "😀🎉🔑🌍🚀🎈🍀🐢🎲🧩🎯🪁";
        twelve.Length.Should().Be(24);
        PasswordPolicy.Check(twelve, "a@example.com").Should().BeNull();
        PasswordPolicy.Check(twelve[..^2], "a@example.com")!.Code.Should().Be("password_too_short");
    }
}
