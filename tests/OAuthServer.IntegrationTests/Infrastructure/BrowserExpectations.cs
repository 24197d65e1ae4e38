using System.Runtime.CompilerServices;
using Microsoft.Playwright;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>Playwright's settings for the web-first assertions (<c>Expect(...)</c>) of every browser test here.</summary>
internal static class BrowserExpectations
{
    /// <summary>
    /// An assertion polls until it holds or its timeout passes, 5 s unless set. The browser tests run side by side
    /// on two shared cores, where a sign-in (an Argon2 check, then redirects) can take longer than that; 30 s is the
    /// default of Playwright's own actions. Waiting is by assertion, never by <c>WaitForURLAsync</c>: it checks the
    /// address, then subscribes to the load event, and loses an event that falls in between
    /// (microsoft/playwright-dotnet#3364), which failed a test once although the page had loaded.
    /// </summary>
    [ModuleInitializer]
    internal static void SetDefaults() => Assertions.SetDefaultExpectTimeout(30_000);
}
