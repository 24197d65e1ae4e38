using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>The second-factor page's own controls: its budgets under every spelling, antiforgery, and the policy that requires a factor.</summary>
public sealed class SecondFactorPageTests
{
    [Fact]
    public async Task Respelled_paths_of_the_code_form_still_spend_the_sign_in_budget_per_address()
    {
        await using var server = await CustomServer.StartAsync(new()
        {
            ["RateLimiting:Enabled"] = "true",
            ["RateLimiting:LoginPerIp:PermitLimit"] = "6",
        });
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, DateTimeOffset.UtcNow);
        var (flow, page) = await TotpSteps.PasswordAsync(server, email);

        // The enrolment's sign-in and the password spent two permits; each spelling spends one more, served or not.
        string[] spellings = ["/Account/Login/Second-Factor", "/account/login/second-factor/", "/account/login%2Fsecond-factor", "/account//login/SECOND-FACTOR"];
        foreach (var path in spellings)
        {
            var response = await TotpSteps.SubmitAsync(flow, page, "totp", "000000", path);
            response.StatusCode.Should().NotBe(HttpStatusCode.TooManyRequests, path);
        }

        var refused = await TotpSteps.SubmitAsync(flow, page, "totp", TotpSteps.Code(enrolled.Secret, DateTimeOffset.UtcNow.AddSeconds(30)));
        refused.StatusCode.Should().Be(HttpStatusCode.TooManyRequests, "every spelling spent the address's budget");
        refused.Headers.RetryAfter.Should().NotBeNull();
        TotpSteps.StartedSession(refused).Should().BeFalse();
    }

    [Fact]
    public async Task A_post_without_the_antiforgery_token_is_refused()
    {
        await using var server = await CustomServer.StartAsync();
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, DateTimeOffset.UtcNow);
        var (flow, _) = await TotpSteps.PasswordAsync(server, email);

        var forged = await flow.Browser.PostAsync(TotpSteps.SecondFactorPath, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["method"] = "totp",
            ["code"] = TotpSteps.Code(enrolled.Secret, DateTimeOffset.UtcNow.AddSeconds(30)),
            ["returnUrl"] = "/account",
        }));

        forged.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        TotpSteps.StartedSession(forged).Should().BeFalse();
    }

    [Fact]
    public async Task When_the_policy_requires_a_factor_a_person_without_one_is_led_to_enrol_and_comes_back_stepped_up()
    {
        await using var server = await CustomServer.StartAsync(new() { ["SecondFactors:Require"] = "Everyone" });
        var email = await server.CreateUserAsync();
        var browser = AccountBrowser.New(server.Issuer);
        var login = await browser.Flow.FollowAsync("/account/login?returnUrl=%2Faccount%3Fwelcome%3D1");
        var afterLogin = await browser.Flow.SubmitLoginAsync(login, email, TestData.Password);

        afterLogin.Headers.Location!.ToString().Should().StartWith(TotpSteps.SecondFactorPath + "?returnUrl=");
        var page = await browser.Client.GetAsync(afterLogin.Headers.Location!.ToString());
        var html = await page.Content.ReadAsStringAsync();
        html.Should().Contain("your account has none yet").And.Contain("href=\"/account?returnUrl=");

        var account = await browser.Client.GetAsync("/account?returnUrl=%2Faccount%3Fwelcome%3D1");
        var setupFields = BrowserFlow.HiddenFields(await account.Content.ReadAsStringAsync());
        setupFields["returnUrl"].Should().Be("/account?welcome=1", "the enrolment keeps where the sign-in was going");
        var setup = await browser.Client.PostAsync("/account/totp/setup", new FormUrlEncodedContent(setupFields));
        var setupHtml = await setup.Content.ReadAsStringAsync();
        var fields = BrowserFlow.HiddenFields(setupHtml);
        fields["code"] = TotpSteps.Code(TotpSteps.SecretOf(setupHtml), DateTimeOffset.UtcNow);
        var confirmed = await browser.Client.PostAsync("/account/totp/confirm", new FormUrlEncodedContent(fields));

        (await confirmed.Content.ReadAsStringAsync()).Should().Contain("href=\"/account?welcome=1\"");
        (await browser.PostAsync("/account/recovery-codes")).StatusCode.Should().Be(HttpStatusCode.OK, "confirming the app stepped the session up");
    }
}
