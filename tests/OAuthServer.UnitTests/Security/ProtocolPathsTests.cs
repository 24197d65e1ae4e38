using Microsoft.AspNetCore.Http;
using OAuthServer.Protocol;

namespace OAuthServer.UnitTests.Security;

/// <summary>
/// The classifier of the limiter must resolve every spelling OpenIddict or routing resolves (and may resolve
/// more). The integration tests send these over HTTP; this enumerates the table.
/// </summary>
public sealed class ProtocolPathsTests
{
    public static TheoryData<string> Paths => [.. ProtocolPaths.All.Select(endpoint => endpoint.Path)];

    [Theory]
    [MemberData(nameof(Paths))]
    public void Every_spelling_of_an_endpoint_resolves_to_it(string path)
    {
        // Note: the first segment and the rest (empty for a one-segment path like /account, more for /account/apps/revoke).
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var (first, second) = (segments[0], string.Join('/', segments[1..]));
        string[] spellings =
        [
            path, path + "/", path + "//", path.ToUpperInvariant(), "//" + path[1..], $"/{first}//{second}", $"/{first}///{second}///",
            $"/{first}%2F{second}", $"/{first}%2f{second}", $"/{first}\\{second}", $"/{first.ToUpperInvariant()}/{second}/",
        ];

        foreach (var spelling in spellings)
        {
            var endpoint = ProtocolPaths.Classify(new PathString(spelling));
            endpoint.Should().NotBeNull(spelling);
            endpoint!.Path.Should().Be(path, spelling);
        }
    }

    [Theory]
    [InlineData("/connect/tokens")]
    [InlineData("/connect/token/x")]
    [InlineData("/connect")]
    [InlineData("/token")]
    [InlineData("/")]
    [InlineData("")]
    public void Other_paths_are_not_endpoints(string path) =>
        ProtocolPaths.Classify(new PathString(path)).Should().BeNull();

    [Theory]
    [InlineData("/connect/register", true)]
    [InlineData("//Connect/", true)]
    [InlineData("/connectx/token", false)]
    [InlineData("/account/login", false)]
    public void Protocol_paths_are_those_under_connect(string path, bool expected) =>
        ProtocolPaths.IsProtocolPath(new PathString(path)).Should().Be(expected);
}
