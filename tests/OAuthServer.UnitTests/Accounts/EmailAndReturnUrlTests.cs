using OAuthServer.Accounts;

namespace OAuthServer.UnitTests.Accounts;

public sealed class EmailAndReturnUrlTests
{
    [Theory]
    [InlineData("  Alice@Example.COM ", "alice@example.com")]
    [InlineData("ｂｏｂ@example.com", "bob@example.com")]
    public void Email_is_normalised_for_lookup(string input, string expected) => EmailAddress.Normalize(input).Should().Be(expected);

    [Theory]
    [InlineData("alice@example.com", true)]
    [InlineData("not-an-email", false)]
    [InlineData("Alice <alice@example.com>", false)]
    [InlineData("", false)]
    public void Email_validity(string input, bool valid) => EmailAddress.IsValid(input).Should().Be(valid);

    [Theory]
    [InlineData("/connect/authorize?client_id=x", "/connect/authorize?client_id=x")]
    [InlineData("https://evil.example/", "/account")]
    [InlineData("//evil.example/", "/account")]
    [InlineData("/\\evil.example/", "/account")]
    [InlineData("/ok\r\nSet-Cookie: x=1", "/account")]
    [InlineData(null, "/account")]
    public void Only_local_return_urls_are_followed_after_sign_in(string? input, string expected) =>
        ReturnUrls.Safe(input).Should().Be(expected);
}
