using Microsoft.AspNetCore.Http;
using OAuthServer.Protocol;

namespace OAuthServer.UnitTests.Security;

/// <summary>The request's endpoint, as every middleware reads it: classified once, and again only if the path changes.</summary>
public sealed class EndpointOfTests
{
    [Theory]
    [InlineData("/CONNECT//token/", ProtocolPaths.Token)]
    [InlineData("/connect%2Fauthorize", ProtocolPaths.Authorize)]
    [InlineData("/.well-known\\jwks.json", ProtocolPaths.Jwks)]
    [InlineData("/account/login/", ProtocolPaths.Login)]
    public void A_spelling_of_a_table_endpoint_is_that_endpoint(string path, string endpoint) =>
        ProtocolPaths.EndpointOf(Request(path))!.Path.Should().Be(endpoint);

    [Theory]
    [InlineData("/connect/register")]
    [InlineData("//Connect/nothing/")]
    [InlineData("/connect")]
    public void Any_other_path_under_connect_is_answered_as_a_protocol_path(string path) =>
        ProtocolPaths.EndpointOf(Request(path)).Should().BeSameAs(ProtocolPaths.OtherProtocolPath);

    [Theory]
    [InlineData("/admin/clients")]
    [InlineData("/connectx/token")]
    [InlineData("/")]
    public void Other_paths_have_no_endpoint(string path) => ProtocolPaths.EndpointOf(Request(path)).Should().BeNull();

    [Fact]
    public void Only_the_protocol_endpoints_are_answered_with_OAuth_errors()
    {
        OAuthErrorResponse.IsOAuthRequest(Request("/Connect/Token/")).Should().BeTrue();
        OAuthErrorResponse.IsOAuthRequest(Request("/connect/register")).Should().BeTrue();
        OAuthErrorResponse.IsOAuthRequest(Request("/account/login")).Should().BeFalse("the sign-in form answers with pages");
        OAuthErrorResponse.IsOAuthRequest(Request(ProtocolPaths.Jwks)).Should().BeFalse();
        OAuthErrorResponse.IsOAuthRequest(Request("/admin/clients")).Should().BeFalse("the admin API answers with ProblemDetails");
    }

    [Fact]
    public void The_classification_is_kept_for_the_request_and_redone_when_the_path_changes()
    {
        var context = Request("/connect/token");
        var first = ProtocolPaths.EndpointOf(context);

        ProtocolPaths.EndpointOf(context).Should().BeSameAs(first);
        context.Request.Path = "/connect/revoke";
        ProtocolPaths.EndpointOf(context)!.Path.Should().Be(ProtocolPaths.Revocation, "a rewritten path is not judged by its old endpoint");
    }

    private static DefaultHttpContext Request(string path) => new() { Request = { Path = path } };
}
