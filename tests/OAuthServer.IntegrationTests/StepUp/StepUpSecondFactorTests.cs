using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Accounts;
using OAuthServer.IntegrationTests.Admin;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.StepUp.StepUpFlow;

namespace OAuthServer.IntegrationTests.StepUp;

/// <summary>
/// A server whose clock the test moves (TOTP steps, and the age of a sign-in for the admin API), with the admin
/// bootstrap client and a short <c>Admin:StepUpMaxAge</c> of two minutes.
/// </summary>
public sealed class StepUpClockServer : OAuthServerFactory
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Admin:BootstrapClientSecret"] = AdminServer.BootstrapSecret,
        ["Admin:StepUpMaxAge"] = "00:02:00",
    };

    protected override void ConfigureTestServices(IServiceCollection services) => services.AddSingleton<TimeProvider>(Clock);

    public async Task<HttpClient> AdminClientAsync()
    {
        using var api = CreateApiClient();
        var client = CreateApiClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            await api.ClientCredentialsTokenAsync("admin-cli", AdminServer.BootstrapSecret, "oauth.admin", waitForClient: true));
        return client;
    }

    /// <summary>Moves to the next TOTP step (a code of the step before is spent or stale) and returns the time there.</summary>
    public DateTimeOffset NextStep()
    {
        Clock.Advance(TimeSpan.FromSeconds(30));
        return Clock.GetUtcNow();
    }
}

/// <summary>
/// The positive path, end to end over HTTP with a TOTP code made by Otp.NET: a second factor's sign-in is what
/// the ID token's amr proves, the admin API lets an administrator in after one and refuses them once it is older
/// than Admin:StepUpMaxAge, and a password-only session steps up in place through acr_values.
/// </summary>
public sealed class StepUpSecondFactorTests(StepUpClockServer server) : IClassFixture<StepUpClockServer>
{
    [Fact]
    public async Task An_administrator_with_a_TOTP_code_gets_amr_pwd_otp_mfa_uses_the_admin_API_and_is_refused_after_StepUpMaxAge()
    {
        using var admin = await server.AdminClientAsync();
        var (console, redirectUri) = await CreateClientAsync(admin, ["openid", "offline_access", "oauth.admin"], requireSecondFactor: true);
        var email = await server.CreateUserAsync();
        var id = await GrantAdministratorAsync(admin, server, email);
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.Clock.GetUtcNow());
        var pkce = Pkce.Create();

        var (flow, page) = await TotpSteps.PasswordAsync(server, email, Url(console, redirectUri, pkce, "openid offline_access oauth.admin"));
        var verified = await TotpSteps.SubmitAsync(flow, page, "totp", TotpSteps.Code(enrolled.Secret, server.NextStep()));
        verified.StatusCode.Should().Be(HttpStatusCode.Redirect, "the code is right");
        var query = (await AuthorizeAsync(flow, verified.Headers.Location!.OriginalString)).ShouldGoBackToTheClient("both factors were proved");
        using var api = server.CreateApiClient();
        var tokens = await (await api.RedeemCodeAsync(console, redirectUri, query["code"], pkce.Verifier)).ShouldSucceedAsync();

        var idToken = Payload(tokens.GetProperty("id_token").GetString()!);
        idToken.GetProperty("amr").EnumerateArray().Select(item => item.GetString()).Should().Equal("pwd", "otp", "mfa");
        idToken.GetProperty("acr").GetString().Should().Be(Mfa);
        var accessToken = tokens.GetProperty("access_token").GetString()!;
        Payload(accessToken).GetProperty("acr").GetString().Should().Be(Mfa);

        using var person = server.CreateApiClient();
        person.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        (await person.GetAsync("/admin/clients")).StatusCode.Should().Be(HttpStatusCode.OK, "an administrator, just after a second factor");
        using var created = await person.PostAsJsonAsync("/admin/users", new { email = TestData.NewEmail(), password = TestData.Password });
        created.StatusCode.Should().Be(HttpStatusCode.Created);
        var newUser = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var actor = await server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<OAuthServer.Admin.AuditEntry>()
            .Where(row => row.TargetId == newUser).Select(row => row.Actor).SingleAsync());
        actor.Should().Be($"user:{id} via {console}", "the audit trail names the person, not only the console");

        server.Clock.Advance(TimeSpan.FromMinutes(3));

        using var stale = await person.GetAsync("/admin/clients");
        stale.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the sign-in is older than Admin:StepUpMaxAge");
        stale.Headers.WwwAuthenticate.Single().Parameter.Should().Contain("insufficient_user_authentication").And.Contain("max_age=120");
        await (await api.RefreshAsync(console, tokens.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();
        (await admin.GetAsync("/admin/clients")).StatusCode.Should().Be(HttpStatusCode.OK, "the machine token is not a person's and is not limited");
    }

    [Fact]
    public async Task A_password_only_session_steps_up_in_place_through_acr_values_and_the_ID_token_proves_it()
    {
        using var admin = await server.AdminClientAsync();
        var (clientId, redirectUri) = await CreateClientAsync(admin, ["openid"]);
        var email = await server.CreateUserAsync();
        // Note: the session starts before the person has a factor, so it has the password only.
        var signedIn = await SignedIn.ForAsync(server, email, clientId, redirectUri, "openid");
        var flow = signedIn.Flow!;
        var enrolled = await TotpSteps.EnrolAsync(server, email, server.NextStep());
        var pkce = Pkce.Create();

        var askedFor = await AuthorizeAsync(flow, Url(clientId, redirectUri, pkce, "openid", ("acr_values", Mfa)));
        askedFor.ShouldAskForASecondFactor("the session has a password only");
        var page = await flow.Browser.GetAsync(askedFor.Headers.Location!.OriginalString);
        page.StatusCode.Should().Be(HttpStatusCode.OK, "the step-up page of the current session");
        var stepped = await TotpSteps.SubmitAsync(flow, page, "totp", TotpSteps.Code(enrolled.Secret, server.NextStep()));
        stepped.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var query = (await AuthorizeAsync(flow, stepped.Headers.Location!.OriginalString)).ShouldGoBackToTheClient("the stepped-up session meets mfa");
        using var api = server.CreateApiClient();
        var tokens = await (await api.RedeemCodeAsync(clientId, redirectUri, query["code"], pkce.Verifier)).ShouldSucceedAsync();

        var idToken = Payload(tokens.GetProperty("id_token").GetString()!);
        idToken.GetProperty("amr").EnumerateArray().Select(item => item.GetString()).Should().Equal("pwd", "otp", "mfa");
        idToken.GetProperty("acr").GetString().Should().Be(Mfa);
        idToken.GetProperty("auth_time").GetInt64().Should().Be(server.Clock.GetUtcNow().ToUnixTimeSeconds(), "OIDC Core §2: the last active authentication");
        var access = Payload(tokens.GetProperty("access_token").GetString()!);
        access.GetProperty("acr").GetString().Should().Be(Mfa, "acr_values asked for it, so the access token says it (RFC 9470)");

        // Note: phr is more than a one-time code gives: after the step-up the request goes on at mfa instead of looping.
        var phr = await AuthorizeAsync(flow, Url(clientId, redirectUri, Pkce.Create(), "openid", ("acr_values", "phr")));
        phr.ShouldGoBackToTheClient("the second factor was proved moments ago; acr_values is voluntary").Should().ContainKey("code");
    }
}
