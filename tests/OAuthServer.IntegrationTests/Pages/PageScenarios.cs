using Microsoft.Playwright;
using OAuthServer.IntegrationTests.Accounts.Recovery;
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
            ["en"] = ["Sign in to " + PagesBrowserFixture.FirstPartyName, "Email", "Password", "About " + PagesBrowserFixture.FirstPartyName, "Forgot your password?"],
            ["de"] = ["Bei " + PagesBrowserFixture.FirstPartyName + " anmelden", "E-Mail-Adresse", "Passwort", "Über " + PagesBrowserFixture.FirstPartyName, "Passwort vergessen?"],
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
            ["en"] = ["Allow access?", PagesBrowserFixture.ThirdPartyName + " would like to:", "Stay signed in", "Allow", "Deny"],
            ["de"] = ["Zugriff erlauben?", PagesBrowserFixture.ThirdPartyName + " möchte:", "Erlauben"],
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
            await SignInToAccountAsync(page, samples);
            await page.ClickAsync($"form[action='{ProtocolPaths.Logout}'] button");
            await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/account/logout"));
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Signed out", "You are signed out."],
            ["de"] = ["Abgemeldet", "Sie sind abgemeldet."],
        }),
        new("account", SignInToAccountAsync, new Dictionary<string, string[]>
        {
            ["en"] = ["Your account", "Change password", "Passkeys", "You have no passkeys yet.", "Apps with access", "Active sessions"],
            ["de"] = ["Ihr Konto", "Passwort ändern", "Passkeys", "Sie haben noch keine Passkeys.", "Apps mit Zugriff", "Aktive Sitzungen"],
        }),
        new("second-factor", async (page, samples) =>
        {
            var email = await samples.Server.CreateUserAsync();
            await Accounts.TotpSteps.EnrolDirectlyAsync(samples.Server, email);
            await page.GotoAsync(PagesBrowserFixture.AuthorizeUrl(samples.FirstParty));
            await SubmitAsync(page, email, TestData.Password);
            await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/account/login/second-factor"));
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Confirm it's you", "6-digit code from your authenticator app", "Use recovery code"],
            ["de"] = ["Bestätigen Sie, dass Sie es sind", "6-stelliger Code aus Ihrer Authenticator-App", "Wiederherstellungscode verwenden"],
        }),
        new("totp-enrolment", async (page, samples) =>
        {
            await SignInToAccountAsync(page, samples);
            await page.ClickAsync($"form[action='{ProtocolPaths.AccountTotpSetup}'] button");
            await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/account/totp/setup$"));
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Set up an authenticator app", "Or type this key:", "2. Enter the code from your app"],
            ["de"] = ["Authenticator-App einrichten", "Oder geben Sie diesen Schlüssel ein:", "2. Code aus der App eingeben"],
        }),
        new("recovery-codes", async (page, samples) =>
        {
            await SignInToAccountAsync(page, samples);
            await page.ClickAsync($"form[action='{ProtocolPaths.AccountTotpSetup}'] button");
            await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/account/totp/setup$"));
            var key = await page.InnerTextAsync(".totp-secret");
            await page.FillAsync("#totp-confirm-code", Accounts.TotpSteps.Code(OtpNet.Base32Encoding.ToBytes(key.Replace(" ", string.Empty, StringComparison.Ordinal)), DateTimeOffset.UtcNow));
            await page.ClickAsync($"form[action='{ProtocolPaths.AccountTotpConfirm}'] button");
            await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/account/totp/confirm$"));
            await Expect(page.Locator(".recovery-code").First).ToBeVisibleAsync();
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Save your recovery codes", "They are shown only now.", "I saved my codes, continue"],
            ["de"] = ["Speichern Sie Ihre Wiederherstellungscodes", "Sie werden nur jetzt angezeigt.", "Codes gespeichert, weiter"],
        }),
        new("forgot-password", async (page, samples) =>
        {
            // The way a person gets there: the link under the sign-in form.
            await page.GotoAsync(PagesBrowserFixture.AuthorizeUrl(samples.FirstParty));
            await page.ClickAsync($"a[href^='{ProtocolPaths.ForgotPassword}']");
            await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/account/forgot-password"));
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Forgot your password?", "Send reset link"],
            ["de"] = ["Passwort vergessen?", "Link zum Zurücksetzen senden"],
        }),
        new("forgot-password-sent", async (page, _) =>
        {
            await page.GotoAsync(ProtocolPaths.ForgotPassword);
            await page.FillAsync("#email", TestData.NewEmail());
            await page.ClickAndAwaitNextDocumentAsync("button[type=submit]");
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Check your email", "If an account exists for that address"],
            ["de"] = ["Sehen Sie in Ihr Postfach", "Wenn es zu dieser Adresse ein Konto gibt"],
        }),
        new("reset-password", async (page, samples) =>
        {
            var email = await samples.Server.CreateUserAsync();
            await page.GotoAsync(ProtocolPaths.ForgotPassword);
            await page.FillAsync("#email", email);
            await page.ClickAndAwaitNextDocumentAsync("button[type=submit]");
            var link = TestMailbox.ResetLink((await TestMailbox.WaitForAsync(email))[^1]);
            await page.GotoAsync(link.PathAndQuery);
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Choose a new password", "New password", "Set new password"],
            ["de"] = ["Neues Passwort wählen", "Neues Passwort", "Neues Passwort festlegen"],
        }),
        new("device-entry", async (page, samples) =>
        {
            await SignInToAccountAsync(page, samples);
            await page.GotoAsync(ProtocolPaths.Verification);
        }, new Dictionary<string, string[]>
        {
            ["en"] = ["Connect a device", "Enter the code shown on your device", "Continue"],
            ["de"] = ["Gerät verbinden", "Geben Sie den Code ein, den Ihr Gerät anzeigt", "Weiter"],
        }),
        new("device-confirm", async (page, samples) =>
        {
            await SignInToAccountAsync(page, samples);
            var device = await DeviceSteps.AuthorizeDeviceAsync(samples.Server.CreateApiClient(), await samples.Server.CreateDeviceClientAsync());
            await page.GotoAsync(ProtocolPaths.Verification + "?user_code=" + Uri.EscapeDataString(device.Body.GetProperty("user_code").GetString()!));
        }, new Dictionary<string, string[]>
        {
            // The scopes in words, as on the consent page (offline_access is "Stay signed in").
            ["en"] = ["Allow this device?", "Living-room TV", "Stay signed in", "never for a code someone sent or read to you", "Allow", "Deny"],
            ["de"] = ["Dieses Gerät zulassen?", "Living-room TV", "Angemeldet bleiben", "Erlauben", "Ablehnen"],
        }),
        new("reset-link-invalid", (page, _) => page.GotoAsync(ProtocolPaths.ResetPassword + "?token=not-a-reset-token"), new Dictionary<string, string[]>
        {
            ["en"] = ["Link not valid"],
            ["de"] = ["Link ungültig"],
        }),
    ];

    private static async Task SignInToAccountAsync(IPage page, PagesBrowserFixture samples)
    {
        var email = await samples.Server.CreateUserAsync();
        await page.GotoAsync(ProtocolPaths.Login);
        await SubmitAsync(page, email, TestData.Password);
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/account$"));
    }

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
        await page.ClickAndAwaitNextDocumentAsync("button[type=submit]");
    }
}
