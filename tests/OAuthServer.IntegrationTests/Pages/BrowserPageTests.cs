using System.Text.Json;
using Microsoft.Playwright;
using OAuthServer.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace OAuthServer.IntegrationTests.Pages;

/// <summary>
/// The pages as a person meets them in headless Chromium: screenshots at phone and desktop widths in each
/// language, axe-core's WCAG 2.2 AA rules, and a sign-in with the keyboard alone through the real redirect chain.
/// </summary>
public sealed class BrowserPageTests(PagesBrowserFixture samples) : IClassFixture<PagesBrowserFixture>
{
    private static readonly string[] AxeTags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

    public static TheoryData<string, string> Rows => PageScenario.Rows();

    [Theory]
    [MemberData(nameof(Rows))]
    public async Task Each_page_shows_a_person_what_they_need_at_phone_and_desktop_width(string name, string language)
    {
        var scenario = PageScenario.Named(name);
        Directory.CreateDirectory(PagesBrowserFixture.ScreensFolder);
        foreach (var viewport in PagesBrowserFixture.Viewports)
        {
            await using var context = await samples.NewContextAsync(language, viewport);
            var page = await context.NewPageAsync();
            await scenario.OpenAsync(page, samples);

            var path = Path.Combine(PagesBrowserFixture.ScreensFolder, $"{name}-{language}-{viewport.Width}x{viewport.Height}.png");
            await page.ScreenshotAsync(new() { Path = path, FullPage = true });

            await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", language);
            await Expect(page.Locator("h1")).ToBeVisibleAsync();
            foreach (var text in scenario.Visible[language])
            {
                await Expect(page.GetByText(text, new() { Exact = false }).First).ToBeVisibleAsync();
            }

            // Nothing wider than the screen: a phone must not scroll sideways (WCAG 2.2 SC 1.4.10 reflow).
            var overflow = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - document.documentElement.clientWidth");
            overflow.Should().BeLessThanOrEqualTo(0, $"{name} in {language} at {viewport.Width}px must not scroll sideways");
            new FileInfo(path).Length.Should().BeGreaterThan(1000, "a screenshot was written");
        }
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public async Task Each_page_has_no_WCAG_2_2_AA_violations_axe_core_can_find(string name, string language)
    {
        var scenario = PageScenario.Named(name);
        // Note: axe is injected by the test, so the context bypasses the page CSP (which rightly refuses script).
        await using var context = await samples.NewContextAsync(language, PagesBrowserFixture.Viewports[1], bypassCsp: true);
        var page = await context.NewPageAsync();
        await scenario.OpenAsync(page, samples);
        await page.AddScriptTagAsync(new() { Content = samples.AxeSource });

        var result = await page.EvaluateAsync<JsonElement>(
            "async tags => { const r = await axe.run(document, { runOnly: { type: 'tag', values: tags } }); " +
            "return { passes: r.passes.length, violations: r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary) })) }; }",
            AxeTags);

        result.GetProperty("passes").GetInt32().Should().BeGreaterThan(5, "axe ran its rules on the page");
        result.GetProperty("violations").EnumerateArray().Select(violation => violation.ToString()).Should().BeEmpty($"{name} in {language} at {page.Url}");
    }

    [Fact]
    public async Task A_person_signs_in_with_the_keyboard_alone_and_the_redirect_chain_reaches_the_client()
    {
        var email = await samples.Server.CreateUserAsync();
        await using var context = await samples.NewContextAsync("en", PagesBrowserFixture.Viewports[0]);
        var page = await context.NewPageAsync();
        var violations = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.Ordinal))
            {
                violations.Add(message.Text);
            }
        };

        await page.GotoAsync(PagesBrowserFixture.AuthorizeUrl(samples.FirstParty));
        // The e-mail field has the focus on arrival (waited for: keys typed before the autofocus lands are lost);
        // wrong first, so the error's focus is checked too.
        await Expect(page.Locator("#email")).ToBeFocusedAsync();
        await page.Keyboard.TypeAsync(email);
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync("wrong-password-attempt");
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("Invalid email or password.");
        await Expect(page.GetByRole(AriaRole.Alert)).ToBeFocusedAsync();

        // From the alert: Tab to the e-mail (kept), Tab to the password, Enter.
        await page.Keyboard.PressAsync("Tab");
        await Expect(page.Locator("#email")).ToBeFocusedAsync();
        await Expect(page.Locator("#email")).ToHaveValueAsync(email);
        await page.Keyboard.PressAsync("Tab");
        await Expect(page.Locator("#password")).ToBeFocusedAsync();
        await page.Keyboard.TypeAsync(TestData.Password);

        // login POST -> 302 authorize -> 302 the client's redirect_uri with a code: the page CSP's form-action must
        // let the chain end there (Chromium checks every redirect after a form post). Nothing listens on the
        // callback port; the request for it leaving the browser is what counts.
        var callback = await page.RunAndWaitForRequestAsync(
            () => page.Keyboard.PressAsync("Enter"),
            request => request.Url.StartsWith(samples.FirstParty.RedirectUri, StringComparison.Ordinal), new() { Timeout = 30_000 });
        BrowserFlow.Query(new Uri(callback.Url)).Should().ContainKey("code");
        violations.Should().BeEmpty();
    }
}
