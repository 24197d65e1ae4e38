using Microsoft.Playwright;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.Protocol;
using static Microsoft.Playwright.Assertions;

namespace OAuthServer.IntegrationTests.Pages;

/// <summary>
/// One row per page a person sees: how to bring the browser to it, and what the person must see there in each
/// language. The screenshot and accessibility tests run every row in every language; a new page is a new row.
/// </summary>
public sealed record PageScenario(string Name, Func<IPage, PagesBrowserFixture, Task> OpenAsync, IReadOnlyDictionary<string, string[]> Visible)
{
    public static readonly string[] Languages = ["en", "de"];

    public static readonly PageScenario[] All =
    [
        new("login", (page, samples) => page.GotoAsync(PagesBrowserFixture.AuthorizeUrl(samples.FirstParty)), new Dictionary<string, string[]>
        {
            ["en"] = ["Sign in to " + PagesBrowserFixture.FirstPartyName, "Email", "Password", "About " + PagesBrowserFixture.FirstPartyName],
            ["de"] = ["Bei " + PagesBrowserFixture.FirstPartyName + " anmelden", "E-Mail-Adresse", "Passwort", "Über " + PagesBrowserFixture.FirstPartyName],
        }),
        new("login-error", async (page, samples) =>
        {
            await page.GotoAsync(PagesBrowserFixture.AuthorizeUrl(samples.FirstParty));
            await SubmitAsync(page, TestData.NewEmail(), "wrong-password-attempt");
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Invalid email or password.", "Sign in to " + PagesBrowserFixture.FirstPartyName],
            ["de"] = ["E-Mail-Adresse oder Passwort ist falsch.", "Bei " + PagesBrowserFixture.FirstPartyName + " anmelden"],
        }),
        new("lockout", async (page, samples) =>
        {
            // Note: the fixture's sign-in budget per source address is 3; the fourth attempt is refused.
            await page.GotoAsync(PagesBrowserFixture.AuthorizeUrl(samples.FirstParty));
            for (var attempt = 0; attempt < 4; attempt++)
            {
                await SubmitAsync(page, TestData.NewEmail(), "wrong-password-attempt");
            }
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Too many attempts", "Too many sign-in attempts."],
            ["de"] = ["Zu viele Versuche", "Zu viele Anmeldeversuche."],
        }),
        new("authorization-error", (page, samples) =>
            page.GotoAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(samples.FirstParty.ClientId, "https://evil.example/cb", Pkce.Create()))),
        new Dictionary<string, string[]>
        {
            ["en"] = ["Something went wrong", "has not registered", "invalid_request"],
            ["de"] = ["Etwas ist schiefgelaufen", "nicht registrierte Adresse", "invalid_request"],
        }),
        new("consent", async (page, samples) =>
        {
            var email = await samples.Server.CreateUserAsync();
            await page.GotoAsync(PagesBrowserFixture.AuthorizeUrl(samples.ThirdParty));
            await SubmitAsync(page, email, TestData.Password);
            await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/account/consent"));
        }, new Dictionary<string, string[]>
        {
            // The consent page as it is before its own work (part B) localises it.
            ["en"] = ["Allow access?", PagesBrowserFixture.ThirdPartyName],
            ["de"] = ["Allow access?", PagesBrowserFixture.ThirdPartyName],
        }),
        new("end-session", async (page, samples) =>
        {
            var email = await samples.Server.CreateUserAsync();
            await page.GotoAsync(ProtocolPaths.Login);
            await SubmitAsync(page, email, TestData.Password);
            await page.GotoAsync(ProtocolPaths.EndSession);
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Sign out?", "Do you want to sign out?"],
            ["de"] = ["Abmelden?", "Möchten Sie sich abmelden?"],
        }),
        new("signed-out", async (page, samples) =>
        {
            var email = await samples.Server.CreateUserAsync();
            await page.GotoAsync(ProtocolPaths.Login);
            await SubmitAsync(page, email, TestData.Password);
            // The sign-out form lives on the account page (its own work); here the same form is posted from ours.
            await page.GotoAsync(ProtocolPaths.Login);
            await page.EvaluateAsync("""
                () => { const form = document.querySelector('form'); form.action = '/account/logout';
                        form.querySelectorAll('input:not([type=hidden]), input[name=returnUrl]').forEach(input => input.remove()); form.submit(); }
                """);
            await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/account/logout"));
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Signed out", "You are signed out."],
            ["de"] = ["Abgemeldet", "Sie sind abgemeldet."],
        }),
    ];

    public static TheoryData<string, string> Rows()
    {
        var rows = new TheoryData<string, string>();
        foreach (var scenario in All)
        {
            foreach (var language in Languages)
            {
                rows.Add(scenario.Name, language);
            }
        }

        return rows;
    }

    public static PageScenario Named(string name) => All.Single(scenario => scenario.Name == name);

    public static async Task SubmitAsync(IPage page, string email, string password)
    {
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForLoadStateAsync(LoadState.Load);
    }
}
