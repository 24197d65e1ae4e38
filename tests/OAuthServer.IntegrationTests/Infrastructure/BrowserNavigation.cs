using Microsoft.Playwright;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>Form posts in a browser test that wait for the document the post answers with.</summary>
internal static class BrowserNavigation
{
    private const string OldDocumentMark = "__oauthServerTestOldDocument";

    /// <summary>
    /// Clicks <paramref name="selector"/> and returns once a new document has replaced the current one and finished
    /// loading. A form post that answers with the same address (a refused sign-in re-renders the form) gives nothing
    /// to assert on the address, and <c>WaitForLoadStateAsync</c> after the click can look at the old document or
    /// lose the load event of the new one (microsoft/playwright-dotnet#3364; it failed CI once). So the old document
    /// is marked first, and the wait polls, across the navigation, until a loaded document without the mark is there.
    /// </summary>
    public static async Task ClickAndAwaitNextDocumentAsync(this IPage page, string selector)
    {
        await page.EvaluateAsync($"() => {{ window.{OldDocumentMark} = true; }}");
        await page.ClickAsync(selector);
        await page.WaitForFunctionAsync(
            $"() => window.{OldDocumentMark} === undefined && document.readyState === 'complete'",
            null,
            new PageWaitForFunctionOptions { PollingInterval = 50, Timeout = 30_000 });
    }
}
