using System.Net;
using OAuthServer.Events;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>
/// One code, sixteen requests at once (threat model: a phished code replayed in a burst, or two nodes seeing it at
/// the same moment). The failure budget is large here so that every request is judged: what stops the extra uses
/// is the single guarded update, not the lockout.
/// </summary>
public sealed class TotpRaceTests(TotpRaceServer server) : IClassFixture<TotpRaceServer>
{
    private const int Parallel = 16;

    [Fact]
    public async Task Sixteen_parallel_posts_of_one_fresh_code_start_exactly_one_session()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var pending = await Task.WhenAll(Enumerable.Range(0, Parallel).Select(_ => TotpSteps.PasswordAsync(server, email)));
        var code = TotpSteps.Code(enrolled.Secret, server.NextStep());
        var forms = await Task.WhenAll(pending.Select(item => TotpSteps.FieldsAsync(item.Page, "totp", code)));

        var responses = await Task.WhenAll(pending.Select((item, index) => item.Flow.Browser.PostAsync(TotpSteps.SecondFactorPath, new FormUrlEncodedContent(forms[index]))));

        responses.Count(response => response.StatusCode == HttpStatusCode.Redirect).Should().Be(1, "a code is good for one sign-in");
        responses.Count(response => response.StatusCode == HttpStatusCode.Unauthorized).Should().Be(Parallel - 1);
        responses.Count(TotpSteps.StartedSession).Should().Be(1);
        var events = await server.EventsForAsync((await server.ReadUserAsync(email)).Id);
        events.Count(item => item.Type == SecurityEventTypes.FactorVerified).Should().Be(1);
        events.Count(item => item.Type == SecurityEventTypes.FactorFailed && item.Data.Contains("wrong_code")).Should().Be(Parallel - 1, "every request was judged");
    }

    [Fact]
    public async Task Sixteen_parallel_uses_of_one_recovery_code_succeed_exactly_once()
    {
        var email = await server.CreateUserAsync();
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var pending = await Task.WhenAll(Enumerable.Range(0, Parallel).Select(_ => TotpSteps.PasswordAsync(server, email)));
        var forms = await Task.WhenAll(pending.Select(item => TotpSteps.FieldsAsync(item.Page, "recovery", enrolled.RecoveryCodes[3])));

        var responses = await Task.WhenAll(pending.Select((item, index) => item.Flow.Browser.PostAsync(TotpSteps.SecondFactorPath, new FormUrlEncodedContent(forms[index]))));

        responses.Count(response => response.StatusCode == HttpStatusCode.Redirect).Should().Be(1, "a recovery code is single-use");
        responses.Count(TotpSteps.StartedSession).Should().Be(1);
        var events = await server.EventsForAsync((await server.ReadUserAsync(email)).Id);
        events.Where(item => item.Type == SecurityEventTypes.RecoveryCodeUsed).Select(item => item.Data).Should().Equal("{\"codes_left\":9}");
        events.Count(item => item.Type == SecurityEventTypes.FactorVerified && item.Data.Contains("recovery_code")).Should().Be(1);
    }
}
