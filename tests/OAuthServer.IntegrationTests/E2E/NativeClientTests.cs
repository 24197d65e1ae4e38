using System.Net;
using NativeClient;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.E2E;

/// <summary>
/// samples/NativeClient's own sign-in code against the server, with an HTTP client standing in for the system
/// browser: the seeded native client, a loopback redirect on a port the OS picked, a user-only token file, the
/// resource API, a refresh on the next run, and sign-out.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class NativeClientTests(OAuthServerFactory server) : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("native-sample-").FullName;
    private SampleApp _resourceApi = null!;

    public async Task InitializeAsync()
    {
        var port = TestPorts.Free();
        _resourceApi = await SampleApp.StartAsync("ResourceApi", port, new Dictionary<string, string>
        {
            ["ResourceApi:Issuer"] = server.Issuer.ToString(),
        }, "/health");
    }

    public async Task DisposeAsync()
    {
        await _resourceApi.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task Native_sample_signs_in_on_a_loopback_port_keeps_a_user_only_refresh_token_refreshes_and_signs_out()
    {
        var email = await server.CreateUserAsync();
        var tokenFile = Path.Combine(_folder, "config", "refresh_token");
        using var http = new HttpClient();
        var settings = new NativeClientSettings(server.Issuer, "sample-native", "openid profile email offline_access api",
            new Uri(_resourceApi.Origin, "/api/hello"), tokenFile);
        var store = new RefreshTokenStore(tokenFile);
        var output = new StringWriter();
        var app = new NativeApp(new NativeSignIn(http, settings), store, output);
        Uri? callback = null;

        // First run: the "browser" signs in through the login form and follows the redirect to the app's listener.
        var exitCode = await app.RunAsync(async authorizeUrl =>
        {
            var flow = new BrowserFlow(server);
            var redirect = await flow.SignInAsync(authorizeUrl.AbsoluteUri, email, TestData.Password);
            redirect.StatusCode.Should().Be(HttpStatusCode.Redirect);
            callback = redirect.Headers.Location!;
            using var browser = new HttpClient();
            (await browser.GetAsync(callback)).StatusCode.Should().Be(HttpStatusCode.OK, "the app's loopback listener answers the browser");
        }, CancellationToken.None);

        exitCode.Should().Be(0, output.ToString());
        callback!.Host.Should().Be("127.0.0.1");
        callback.AbsolutePath.Should().Be("/callback");
        callback.IsDefaultPort.Should().BeFalse("the port was picked by the operating system, not registered");
        output.ToString().Should().Contain("Signed in.").And.Contain("Resource API answered 200").And.Contain("Hello from the resource API, " + email);
        var firstRefreshToken = store.Load();
        firstRefreshToken.Should().NotBeNullOrEmpty();
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(tokenFile).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, "only the user may read the refresh token");
            File.GetUnixFileMode(Path.GetDirectoryName(tokenFile)!).Should().Be(RefreshTokenStore.FolderMode);
        }

        // Second run: the saved refresh token is used (no browser), and the rotated one replaces it.
        exitCode = await app.RunAsync(_ => throw new InvalidOperationException("the second run must not open a browser"), CancellationToken.None);

        exitCode.Should().Be(0, output.ToString());
        output.ToString().Should().Contain("Refreshed the saved sign-in");
        var secondRefreshToken = store.Load();
        secondRefreshToken.Should().NotBe(firstRefreshToken, "refresh tokens rotate on every use");

        // Sign-out revokes the saved token and deletes the file.
        (await app.SignOutAsync(CancellationToken.None)).Should().Be(0);
        File.Exists(tokenFile).Should().BeFalse();
        var revoked = () => new NativeSignIn(http, settings).RefreshAsync(secondRefreshToken!, CancellationToken.None);
        await revoked.Should().ThrowAsync<SignInException>();
    }
}
