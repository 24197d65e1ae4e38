using System.Text.RegularExpressions;
using Microsoft.Playwright;
using NativeClient;
using OAuthServer.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace OAuthServer.IntegrationTests.E2E;

/// <summary>
/// samples/NativeClient's --device sign-in (RFC 8628): the app prints a verification URI and a code and polls,
/// while a person in headless Chromium opens the URI, signs in, types the code and allows the device; the app
/// then calls samples/ResourceApi with its token and keeps its refresh token.
/// </summary>
public sealed class NativeClientDeviceTests(BrowserSamplesFixture samples) : IClassFixture<BrowserSamplesFixture>, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("native-device-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Native_sample_signs_in_with_a_code_approved_in_a_browser_and_calls_the_api()
    {
        var email = await samples.Server.CreateUserAsync();
        var tokenFile = Path.Combine(_folder, "refresh_token");
        using var http = new HttpClient();
        var settings = new NativeClientSettings(samples.Server.Issuer, "sample-native", "openid profile offline_access api",
            new Uri(samples.ResourceApi.Origin, "/api/hello"), tokenFile, Device: true);
        var store = new RefreshTokenStore(tokenFile);
        var output = new StringWriter();
        Task? approval = null;
        DevicePrompt? shown = null;
        var app = new NativeApp(new NativeSignIn(http, settings), store, output)
        {
            ShowDeviceCode = prompt =>
            {
                shown = prompt;
                // The person's side runs while the app polls.
                approval = samples.RunAsync(nameof(Native_sample_signs_in_with_a_code_approved_in_a_browser_and_calls_the_api), async page =>
                {
                    await page.GotoAsync(prompt.VerificationUri.AbsoluteUri);
                    await Expect(page).ToHaveURLAsync(new Regex("^" + Regex.Escape(samples.Server.Issuer.ToString()) + "account/login"));
                    await page.FillAsync("#email", email);
                    await page.FillAsync("#password", TestData.Password);
                    await page.ClickAsync("button[type=submit]");
                    // Typed as a person might: lower case, a space instead of the dash.
                    await page.FillAsync("#user_code", prompt.UserCode.ToLowerInvariant().Replace('-', ' '));
                    await page.ClickAsync("button[type=submit]");
                    await Expect(page.Locator("body")).ToContainTextAsync("asks to access your account");
                    await page.ClickAsync("button[value=accept]");
                    await Expect(page.Locator("body")).ToContainTextAsync("You approved the device");
                });
                return Task.CompletedTask;
            },
        };

        var exitCode = await app.RunAsync(_ => throw new InvalidOperationException("--device never opens a browser here"), CancellationToken.None);
        await approval!;

        exitCode.Should().Be(0, output.ToString());
        shown!.VerificationUri.AbsolutePath.Should().Be("/connect/verify");
        output.ToString().Should().Contain("Resource API answered 200");
        store.Load().Should().NotBeNullOrEmpty("the device keeps its refresh token for the next run");
    }
}
