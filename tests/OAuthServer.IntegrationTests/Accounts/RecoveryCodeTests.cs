using System.Net;
using OAuthServer.Events;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>Recovery codes: each works once, in any spelling a person types; a new set replaces the old; they belong to one account.</summary>
public sealed class RecoveryCodeTests(TotpClockServer server) : IClassFixture<TotpClockServer>
{
    [Fact]
    public async Task A_recovery_code_signs_in_once_typed_loosely_and_raises_an_event_with_the_codes_left()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var code = enrolled.RecoveryCodes[0];
        var (flow, page) = await TotpSteps.PasswordAsync(server, email);

        // Upper case, spaces instead of dashes: a person copying from paper.
        var used = await TotpSteps.SubmitAsync(flow, page, "recovery", " " + code.ToUpperInvariant().Replace('-', ' ') + " ");

        used.StatusCode.Should().Be(HttpStatusCode.Redirect, await used.Content.ReadAsStringAsync());
        TotpSteps.StartedSession(used).Should().BeTrue();
        (await (await flow.Browser.GetAsync("/account")).Content.ReadAsStringAsync()).Should().Contain("Recovery code used", "the person sees it among their recent events");
        var (again, againPage) = await TotpSteps.PasswordAsync(server, email);
        (await TotpSteps.SubmitAsync(again, againPage, "recovery", code)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "a spent code never works again");
        var user = await server.ReadUserAsync(email);
        var events = await server.EventsForAsync(user.Id);
        events.Should().ContainSingle(item => item.Type == SecurityEventTypes.RecoveryCodeUsed).Which.Data.Should().Be("{\"codes_left\":9}");
        events.Should().Contain(item => item.Type == SecurityEventTypes.FactorFailed && item.Data.Contains("recovery_code"));
    }

    [Fact]
    public async Task New_codes_replace_every_old_one()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());

        var regenerated = await enrolled.Browser.PostAsync("/account/recovery-codes");
        regenerated.StatusCode.Should().Be(HttpStatusCode.OK);
        var fresh = TotpSteps.RecoveryCodesOf(await regenerated.Content.ReadAsStringAsync());
        fresh.Should().HaveCount(10).And.NotIntersectWith(enrolled.RecoveryCodes);

        var (flow, page) = await TotpSteps.PasswordAsync(server, email);
        (await TotpSteps.SubmitAsync(flow, page, "recovery", enrolled.RecoveryCodes[1])).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the old set is gone");
        (await TotpSteps.SubmitAsync(flow, page, "recovery", fresh[1])).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task Another_accounts_recovery_code_does_not_finish_my_sign_in()
    {
        var mine = await server.CreateUserAsync();
        var theirs = await server.CreateUserAsync();
        await TotpSteps.EnrolAsync(server, mine, server.Clock.GetUtcNow());
        var other = await TotpSteps.EnrolAsync(server, theirs, server.Clock.GetUtcNow());
        var (flow, page) = await TotpSteps.PasswordAsync(server, mine);

        (await TotpSteps.SubmitAsync(flow, page, "recovery", other.RecoveryCodes[0])).StatusCode.Should().Be(HttpStatusCode.Unauthorized);

        // And it is still good for its owner.
        var (owner, ownerPage) = await TotpSteps.PasswordAsync(server, theirs);
        (await TotpSteps.SubmitAsync(owner, ownerPage, "recovery", other.RecoveryCodes[0])).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }
}
