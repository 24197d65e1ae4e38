using System.Text.RegularExpressions;
using Microsoft.Playwright;
using OAuthServer.IntegrationTests.Accounts.Recovery;
using OAuthServer.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace OAuthServer.IntegrationTests.E2E;

/// <summary>
/// A person who forgot their password, in headless Chromium (OAUTH_TEST_CHROMIUM): asks for a link, finds it in
/// the mailbox of the real SMTP server, chooses a new password on the page it opens, and signs in with it.
/// </summary>
public sealed class PasswordResetBrowserTests
{
    private static readonly string[] ChromiumArgs =
        ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    [Fact]
    public async Task A_person_resets_a_forgotten_password_from_the_mail_and_signs_in_with_it()
    {
        var chromium = Environment.GetEnvironmentVariable("OAUTH_TEST_CHROMIUM")
            ?? throw new InvalidOperationException("OAUTH_TEST_CHROMIUM is not set: run the tests through ops/test.sh, which finds Chromium.");
        await using var server = await CustomServer.StartAsync(TestMailbox.Settings());
        var email = await server.CreateUserAsync();
        const string newPassword = "chromium-chose-this-passphrase";
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true, Args = ChromiumArgs });
        await using var context = await browser.NewContextAsync();
        var page = await context.NewPageAsync();

        await page.GotoAsync(new Uri(server.Issuer, "/account/forgot-password").ToString());
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByRole(AriaRole.Button, new() { Name = "Send reset link" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Check your email" }).WaitForAsync();

        var link = TestMailbox.ResetLink((await TestMailbox.WaitForAsync(email)).Single());
        await page.GotoAsync(link.ToString());
        await page.GetByLabel("New password", new() { Exact = true }).FillAsync(newPassword);
        await page.GetByLabel("New password again").FillAsync(newPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Set new password" }).ClickAsync();
        await page.GetByRole(AriaRole.Heading, new() { Name = "Password changed" }).WaitForAsync();

        await page.GetByRole(AriaRole.Link, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/account/login"));
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(newPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/account$"));

        var user = await server.ReadUserAsync(email);
        (await server.EventsForAsync(user.Id)).Select(item => item.Type).Should()
            .ContainInOrder("password.reset_requested", "password.reset", "login.succeeded");
    }
}
