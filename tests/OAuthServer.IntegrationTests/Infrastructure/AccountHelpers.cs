using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Accounts;
using OAuthServer.Data;
using OAuthServer.Events;

namespace OAuthServer.IntegrationTests.Infrastructure;

internal static class AccountHelpers
{
    /// <summary>
    /// One login through the HTML form, in a fresh browser; with <paramref name="forwardedFor"/>, as relayed by a
    /// proxy that names that client address in X-Forwarded-For.
    /// </summary>
    public static async Task<HttpResponseMessage> LoginAsync(this OAuthServerFactory server, string email, string password, string? forwardedFor = null)
    {
        var flow = new BrowserFlow(server);
        var fields = BrowserFlow.HiddenFields(await (await flow.FollowAsync("/account/login")).Content.ReadAsStringAsync());
        fields["email"] = email;
        fields["password"] = password;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/account/login") { Content = new FormUrlEncodedContent(fields) };
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return await flow.Browser.SendAsync(request);
    }

    public static Task<User> ReadUserAsync(this OAuthServerFactory server, string email) =>
        server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Users.AsNoTracking()
            .SingleAsync(user => user.NormalizedEmail == EmailAddress.Normalize(email)));

    public static Task<int> ChangeUserAsync(this OAuthServerFactory server, string email, Action<User> change) =>
        server.WithScopeAsync(async services =>
        {
            var db = services.GetRequiredService<OAuthDbContext>();
            var user = await db.Users.SingleAsync(row => row.NormalizedEmail == EmailAddress.Normalize(email));
            change(user);
            return await db.SaveChangesAsync();
        });

    /// <summary>Runs an account operation on the user of <paramref name="email"/>; its problem, or null on success.</summary>
    public static Task<Problem?> AdministerAsync(this OAuthServerFactory server, string email, Func<UserAccounts, Guid, Task<Outcome>> action) =>
        server.WithScopeAsync(async services =>
        {
            var accounts = services.GetRequiredService<UserAccounts>();
            var user = await accounts.FindByEmailAsync(email) ?? throw new InvalidOperationException("no such user");
            var outcome = await action(accounts, user.Id);
            return outcome.Succeeded ? null : outcome.Problem;
        });

    public static Task<List<SecurityEvent>> EventsForAsync(this OAuthServerFactory server, Guid userId) =>
        server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().SecurityEvents.AsNoTracking()
            .Where(item => item.UserId == userId).OrderBy(item => item.OccurredAt).ToListAsync());

    public static RequestOrigin TestOrigin { get; } = new("127.0.0.1", "integration-tests");
}

/// <summary>
/// Counts the Argon2 operations one server performs, through the server's own metric (the histogram of hash
/// durations), so "the same work" is proven by counting, not by timing.
/// </summary>
public sealed class HashOperationCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _count;

    public HashOperationCounter(OAuthServerFactory server)
    {
        var meterFactory = server.Services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Scope == meterFactory && instrument.Name == "oauth_password_hash_duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _count));
        _listener.Start();
    }

    public long Count => Interlocked.Read(ref _count);

    public void Dispose() => _listener.Dispose();
}
