using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts.Recovery;

/// <summary>The person's steps through the reset pages, as a browser makes them (forms with their antiforgery tokens).</summary>
internal static class ResetSteps
{
    /// <summary>Opens the forgot-password page and submits <paramref name="email"/>; optionally as relayed for <paramref name="forwardedFor"/>.</summary>
    public static async Task<HttpResponseMessage> RequestResetAsync(this BrowserFlow flow, string email, string? forwardedFor = null, string path = "/account/forgot-password")
    {
        using var get = new HttpRequestMessage(HttpMethod.Get, "/account/forgot-password");
        if (forwardedFor is not null)
        {
            get.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        var page = await flow.Browser.SendAsync(get);
        var fields = BrowserFlow.HiddenFields(await page.Content.ReadAsStringAsync());
        fields["email"] = email;
        using var post = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(fields) };
        if (forwardedFor is not null)
        {
            post.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return await flow.Browser.SendAsync(post);
    }

    /// <summary>Opens a mailed link (its path and query, on the server under test).</summary>
    public static Task<HttpResponseMessage> OpenLinkAsync(this BrowserFlow flow, Uri link) => flow.Browser.GetAsync(link.PathAndQuery);

    /// <summary>Fills in the new-password form of <paramref name="formPage"/> and submits it.</summary>
    public static async Task<HttpResponseMessage> SubmitNewPasswordAsync(
        this BrowserFlow flow, HttpResponseMessage formPage, string password, string? confirm = null, string? forwardedFor = null, string path = "/account/reset-password")
    {
        var fields = BrowserFlow.HiddenFields(await formPage.Content.ReadAsStringAsync());
        fields["password"] = password;
        fields["confirmPassword"] = confirm ?? password;
        using var post = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(fields) };
        if (forwardedFor is not null)
        {
            post.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return await flow.Browser.SendAsync(post);
    }

    /// <summary>Asks for a reset of <paramref name="email"/> and returns the link of the mail that arrives (the <paramref name="nth"/> one).</summary>
    public static async Task<Uri> MailedLinkAsync(this OAuthServerFactory server, string email, int nth = 1)
    {
        (await new BrowserFlow(server).RequestResetAsync(email)).StatusCode.Should().Be(System.Net.HttpStatusCode.OK);
        var messages = await TestMailbox.WaitForAsync(email, nth);
        return TestMailbox.ResetLink(messages[nth - 1]);
    }
}
