using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OAuthServer.Accounts.Recovery;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts.Recovery;

/// <summary>A reset link is short-lived (PasswordReset:TokenLifetime): past it the link opens nothing, and the pruner removes it.</summary>
public sealed class PasswordResetExpiryTests
{
    [Fact]
    public async Task A_link_past_its_lifetime_is_refused_and_then_pruned()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await CustomServer.StartAsync(
            TestMailbox.Settings(new() { ["PasswordReset:TokenLifetime"] = "00:10:00" }),
            services: services => services.AddSingleton<TimeProvider>(clock));
        var email = await server.CreateUserAsync();
        var link = await server.MailedLinkAsync(email);
        var person = new BrowserFlow(server);
        var form = await person.OpenLinkAsync(link);
        form.StatusCode.Should().Be(HttpStatusCode.OK, "within its lifetime the link opens the form");

        clock.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));

        (await person.OpenLinkAsync(link)).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await person.SubmitNewPasswordAsync(form, "a-passphrase-set-too-late")).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await server.LoginAsync(email, TestData.Password)).StatusCode.Should().Be(HttpStatusCode.Redirect, "the password is unchanged");

        var removed = await server.Services.GetRequiredService<DatabasePruner>().PruneOnceAsync(CancellationToken.None);

        removed["password resets"].Should().Be(1);
        var userId = (await server.ReadUserAsync(email)).Id;
        (await server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Set<PasswordReset>().CountAsync(row => row.UserId == userId)))
            .Should().Be(0);
    }

    [Fact]
    public async Task A_link_just_inside_its_lifetime_still_works()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await CustomServer.StartAsync(TestMailbox.Settings(), services: services => services.AddSingleton<TimeProvider>(clock));
        var email = await server.CreateUserAsync();
        var link = await server.MailedLinkAsync(email);

        clock.Advance(TimeSpan.FromMinutes(30) - TimeSpan.FromSeconds(5));

        var person = new BrowserFlow(server);
        (await person.SubmitNewPasswordAsync(await person.OpenLinkAsync(link), "a-passphrase-set-in-time")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await server.LoginAsync(email, "a-passphrase-set-in-time")).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }
}
