using OAuthServer.Security;

namespace OAuthServer.UnitTests.Html;

public sealed class PageCspTests
{
    [Theory]
    [InlineData("https://app.example/callback", "https://app.example")]
    [InlineData("https://app.example:8443/cb?x=1", "https://app.example:8443")]
    [InlineData("http://127.0.0.1:53123/callback", "http://127.0.0.1:*")]
    [InlineData("http://localhost/callback", "http://localhost:*")]
    [InlineData("com.example.app:/oauth2redirect", "com.example.app:")]
    [InlineData("http://[::1]:8080/cb", null)]
    [InlineData("not a uri", null)]
    [InlineData(null, null)]
    public void A_redirect_uri_becomes_the_form_action_source_of_its_origin(string? redirectUri, string? expected)
    {
        BrowserSecurity.FormTarget(redirectUri).Should().Be(expected);
    }

    [Fact]
    public void Form_targets_extend_form_action_and_nothing_else()
    {
        var csp = BrowserSecurity.PageContentSecurityPolicyWith(["https://app.example"]);

        csp.Should().Contain("form-action 'self' https://app.example;").And.Contain("script-src 'none'").And.Contain("frame-ancestors 'none'");
        BrowserSecurity.PageContentSecurityPolicyWith([]).Should().Be(BrowserSecurity.PageContentSecurityPolicy);
    }
}
