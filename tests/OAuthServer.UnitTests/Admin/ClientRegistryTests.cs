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
    public void Acceptable_redirect_uris_for_a_native_client(string uri) => ClientRules.RedirectUriProblem(uri, native: true).Should().BeNull();

    [Fact]
    public void A_private_use_scheme_is_for_native_clients_only() =>
        ClientRules.RedirectUriProblem("com.example.app:/oauth2redirect", native: false).Should().Contain("only native clients");

    [Theory]
    [InlineData("http://app.example.com/callback", "https")]
    [InlineData("https://app.example.com/cb#frag", "fragment")]
    [InlineData("https://*.example.com/cb", "wildcard")]
    [InlineData("/relative/callback", "absolute")]
    [InlineData("javascript:alert(1)", "private-use")]
    [InlineData("myapp:/cb", "private-use")]
    public void Unacceptable_redirect_uris_are_named(string uri, string reason) =>
        ClientRules.RedirectUriProblem(uri, native: true).Should().Contain(reason);

    [Fact]
    public void Public_client_may_not_have_a_secret_or_client_credentials()
    {
        var problems = ClientRules.Check(new ClientRegistration
        {
            ClientId = "spa",
            Kind = ClientKind.Public,
            Secret = "some secret that should not be here at all",
            AllowClientCredentials = true,
        }).ToList();

        problems.Should().Contain(problem => problem.Field == "client_secret" && problem.Message.Contains("no secret", StringComparison.Ordinal));
        problems.Should().Contain(problem => problem.Field == "grant_types" && problem.Message.Contains("confidential clients only", StringComparison.Ordinal));
    }

    [Fact]
    public void Confidential_client_needs_a_long_secret()
    {
        ClientRules.Check(new ClientRegistration
        {
            ClientId = "svc",
            Kind = ClientKind.Confidential,
            Secret = "short",
            AllowClientCredentials = true,
        }).Should().ContainSingle().Which.Message.Should().Contain("at least 32");
    }
}

public sealed class PrivilegedScopeTests
{
    [Theory]
    [InlineData("oauth.admin")]
    [InlineData("oauth.register")]
    public void A_privileged_scope_is_refused_to_a_client_that_signs_users_in(string scope) =>
        ClientRules.Check(new ClientRegistration
        {
            ClientId = "console",
            Kind = ClientKind.Confidential,
            Secret = new string('s', 43),
            RedirectUris = ["https://console.example.com/cb"],
            AllowClientCredentials = true,
            Scopes = [scope],
        }).Should().ContainSingle().Which.Field.Should().Be("scopes[0]");

    [Fact]
    public void A_privileged_scope_is_allowed_to_a_machine_client() =>
        ClientRules.Check(new ClientRegistration
        {
            ClientId = "automation",
            Kind = ClientKind.Confidential,
            Secret = new string('s', 43),
            AllowClientCredentials = true,
            Scopes = ["oauth.admin"],
        }).Should().BeEmpty();
}

public sealed class RegistrationSizeTests
{
    [Fact]
    public void Oversized_names_and_lists_are_refused_by_field() =>
        ClientRules.Check(new ClientRegistration
        {
            ClientId = "big",
            Kind = ClientKind.Public,
            DisplayName = new string('n', ClientRules.MaxDisplayNameLength + 1),
            RedirectUris = [.. Enumerable.Range(0, ClientRules.MaxUris + 1).Select(i => $"https://app.example.com/cb{i}")],
            Scopes = [.. Enumerable.Range(0, ClientRules.MaxScopes + 1).Select(i => $"scope{i}")],
        }).Select(problem => problem.Field).Should().BeEquivalentTo("display_name", "redirect_uris", "scopes");
}
