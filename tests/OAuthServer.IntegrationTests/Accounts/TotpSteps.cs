using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Accounts;
using OAuthServer.Accounts.Factors;
using OAuthServer.IntegrationTests.Infrastructure;
using OtpNet;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>A person's enrolled authenticator app as the test holds it: the secret (to make codes) and the recovery codes.</summary>
internal sealed record TotpEnrolled(byte[] Secret, IReadOnlyList<string> RecoveryCodes, AccountBrowser Browser);

/// <summary>
/// The steps of a second-factor sign-in as a browser takes them, with codes made by Otp.NET from the secret the
/// enrolment page showed (RFC 6238: SHA-1, 6 digits, 30 s).
/// </summary>
internal static partial class TotpSteps
{
    public const string SecondFactorPath = "/account/login/second-factor";

    /// <summary>The code of the step that <paramref name="at"/> falls in.</summary>
    public static string Code(byte[] secret, DateTimeOffset at) => new Totp(secret).ComputeTotp(at.UtcDateTime);

    /// <summary>Enrols an app over HTTP: signs in at /account, starts the setup, reads the key and confirms it with the code of <paramref name="at"/>.</summary>
    public static async Task<TotpEnrolled> EnrolAsync(OAuthServerFactory server, string email, DateTimeOffset at)
    {
        var browser = await AccountBrowser.SignInAsync(server.Issuer, email);
        var setup = await browser.PostAsync("/account/totp/setup", new() { ["returnUrl"] = "/account" });
        setup.StatusCode.Should().Be(HttpStatusCode.OK, "the enrolment page shows the key");
        var html = await setup.Content.ReadAsStringAsync();
        var secret = SecretOf(html);
        var fields = BrowserFlow.HiddenFields(html);
        fields["code"] = Code(secret, at);
        var confirmed = await browser.Client.PostAsync("/account/totp/confirm", new FormUrlEncodedContent(fields));
        var codesPage = await confirmed.Content.ReadAsStringAsync();
        confirmed.StatusCode.Should().Be(HttpStatusCode.OK, codesPage);
        var codes = RecoveryCodesOf(codesPage);
        codes.Should().HaveCount(10, "ten recovery codes are shown once the app is confirmed");
        return new(secret, codes, browser);
    }

    /// <summary>Enrols directly through the server's services (for page scenarios, whose sign-in budget is tiny).</summary>
    public static Task<TotpEnrolled> EnrolDirectlyAsync(OAuthServerFactory server, string email) =>
        server.WithScopeAsync(async services =>
        {
            var user = (await services.GetRequiredService<UserAccounts>().FindByEmailAsync(email))!;
            var totp = services.GetRequiredService<TotpAuthenticators>();
            var enrolment = (await totp.BeginAsync(user, "Tests", CancellationToken.None))!;
            (await totp.ConfirmAsync(user.Id, Code(enrolment.Secret, DateTimeOffset.UtcNow), CancellationToken.None)).Should().BeTrue();
            var codes = await services.GetRequiredService<RecoveryCodes>().ReplaceAsync(user.Id, CancellationToken.None);
            return new TotpEnrolled(enrolment.Secret, codes, AccountBrowser.New(server.Issuer));
        });

    /// <summary>A fresh browser signs in with the password (optionally into an authorize request) and lands on the second-factor page.</summary>
    public static async Task<(BrowserFlow Flow, HttpResponseMessage Page)> PasswordAsync(OAuthServerFactory server, string email, string? authorizeUrl = null, BrowserFlow? flow = null)
    {
        flow ??= new BrowserFlow(server);
        var login = await flow.FollowAsync(authorizeUrl ?? "/account/login");
        login.StatusCode.Should().Be(HttpStatusCode.OK);
        var afterLogin = await flow.SubmitLoginAsync(login, email, TestData.Password);
        afterLogin.StatusCode.Should().Be(HttpStatusCode.Redirect);
        afterLogin.Headers.Location!.ToString().Should().StartWith(SecondFactorPath + "?returnUrl=", "a password alone leads to the second step");
        var page = await flow.Browser.GetAsync(afterLogin.Headers.Location!.ToString());
        page.StatusCode.Should().Be(HttpStatusCode.OK);
        return (flow, page);
    }

    /// <summary>The form fields of the second-factor page for <paramref name="method"/> (totp or recovery).</summary>
    public static async Task<Dictionary<string, string>> FieldsAsync(HttpResponseMessage page, string method, string code)
    {
        var html = await page.Content.ReadAsStringAsync();
        var fields = BrowserFlow.HiddenFields(html);
        fields["method"] = method;
        fields["code"] = code;
        return fields;
    }

    public static async Task<HttpResponseMessage> SubmitAsync(BrowserFlow flow, HttpResponseMessage page, string method, string code, string path = SecondFactorPath) =>
        await flow.Browser.PostAsync(path, new FormUrlEncodedContent(await FieldsAsync(page, method, code)));

    public static bool StartedSession(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var cookies)
        && cookies.Any(cookie => cookie.StartsWith("oauthserver.session=", StringComparison.Ordinal) && !cookie.Contains("expires=Thu, 01 Jan 1970", StringComparison.OrdinalIgnoreCase));

    public static byte[] SecretOf(string html)
    {
        var match = SecretPattern().Match(html);
        match.Success.Should().BeTrue("the enrolment page shows the key to type");
        return Base32Encoding.ToBytes(match.Groups[1].Value.Replace(" ", string.Empty, StringComparison.Ordinal));
    }

    public static List<string> RecoveryCodesOf(string html) =>
        [.. RecoveryCodePattern().Matches(html).Select(match => match.Groups[1].Value)];

    [GeneratedRegex("<code class=\"totp-secret\">([A-Z2-7 ]+)</code>")]
    private static partial Regex SecretPattern();

    [GeneratedRegex("<code class=\"recovery-code\">([0-9a-z-]+)</code>")]
    private static partial Regex RecoveryCodePattern();
}
