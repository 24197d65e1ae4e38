using OAuthServer.Admin;

namespace OAuthServer.UnitTests.Admin;

public sealed class ClientRegistryTests
{
    [Theory]
    [InlineData("https://app.example.com/callback")]
    [InlineData("http://127.0.0.1:8080/callback")]
    [InlineData("http://[::1]:8080/callback")]
    [InlineData("http://localhost:3000/cb")]
    [InlineData("com.example.app:/oauth2redirect")]
    public void Acceptable_redirect_uris(string uri) => ClientRegistry.RedirectUriProblem(uri).Should().BeNull();

    [Theory]
    [InlineData("http://app.example.com/callback", "https")]
    [InlineData("https://app.example.com/cb#frag", "fragment")]
    [InlineData("https://*.example.com/cb", "wildcard")]
    [InlineData("/relative/callback", "absolute")]
    [InlineData("javascript:alert(1)", "private-use")]
    [InlineData("myapp:/cb", "private-use")]
    public void Unacceptable_redirect_uris_are_named(string uri, string reason) =>
        ClientRegistry.RedirectUriProblem(uri).Should().Contain(reason);

    [Fact]
    public void Public_client_may_not_have_a_secret_or_client_credentials()
    {
        var problems = ClientRegistry.Validate(new ClientRegistration
        {
            ClientId = "spa",
            Kind = ClientKind.Public,
            Secret = "some secret that should not be here at all",
            AllowClientCredentials = true,
        }).ToList();

        problems.Should().Contain(problem => problem.Contains("no secret", StringComparison.Ordinal));
        problems.Should().Contain(problem => problem.Contains("confidential clients only", StringComparison.Ordinal));
    }

    [Fact]
    public void Confidential_client_needs_a_long_secret()
    {
        ClientRegistry.Validate(new ClientRegistration
        {
            ClientId = "svc",
            Kind = ClientKind.Confidential,
            Secret = "short",
            AllowClientCredentials = true,
        }).Should().ContainSingle().Which.Should().Contain("at least 32");
    }
}
