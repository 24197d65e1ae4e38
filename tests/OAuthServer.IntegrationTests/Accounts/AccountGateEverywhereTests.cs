using System.Data.Common;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Accounts;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>
/// Threat model 1.3 through the one account gate: every path that issues something to a user (the browser session
/// at authorize, the code and refresh grants, userinfo) refuses an account an operator disabled or that is gone,
/// each loading the user exactly once per request. The account state is changed in the database behind the
/// tokens' back, so nothing is revoked and only the gate stands.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed partial class AccountGateEverywhereTests(OAuthServerFactory server)
{
    [Fact]
    public async Task A_user_disabled_after_sign_in_gets_no_refresh_no_userinfo_no_code_and_no_browser_session_until_enabled_again()
    {
        var holder = await HolderAsync();
        await server.ChangeUserAsync(holder.Email, user => user.Status = AccountStatus.Disabled);

        await holder.ShouldBeRefusedEverywhereAsync(server);

        // Note: the refusals were the gate's, not a revocation: the same tokens work again once the account does.
        await server.ChangeUserAsync(holder.Email, user => user.Status = AccountStatus.Active);
        using var api = server.CreateApiClient();
        (await UserInfoAsync(api, holder.AccessToken)).StatusCode.Should().Be(HttpStatusCode.OK);
        await (await api.RefreshAsync(holder.SignedIn.ClientId, holder.RefreshToken)).ShouldSucceedAsync();
    }

    [Fact]
    public async Task A_deleted_user_gets_no_refresh_no_userinfo_no_code_and_no_browser_session()
    {
        var holder = await HolderAsync();
        await server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().Users
            .Where(user => user.NormalizedEmail == EmailAddress.Normalize(holder.Email)).ExecuteDeleteAsync());

        await holder.ShouldBeRefusedEverywhereAsync(server);
    }

    [Fact]
    public async Task Each_request_loads_its_user_once_for_the_gate_and_the_tokens_it_issues()
    {
        var email = await server.CreateUserAsync();
        var userId = (await server.ReadUserAsync(email)).Id;
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var signedIn = await SignedIn.ForAsync(server, email, clientId, redirectUri, "openid email profile offline_access api");
        using var api = server.CreateApiClient();
        using var reads = new UserRowReads(userId);
        // Note: a pooled context keeps its loggers, which re-check whether anyone listens at most once a second
        // (EF Core's LoggingCacheTime): commands of the next second could go unseen by a listener just attached.
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        var tokens = await signedIn.RedeemAsync(api);
        reads.TakeCount().Should().Be(1, "the code redemption loads its user once, for the gate and the new tokens alike");

        var refreshed = await (await api.RefreshAsync(clientId, tokens.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();
        reads.TakeCount().Should().Be(1, "the refresh loads its user once");

        using var userInfo = await UserInfoAsync(api, refreshed.GetProperty("access_token").GetString()!);
        userInfo.StatusCode.Should().Be(HttpStatusCode.OK);
        (await userInfo.Content.ReadAsStringAsync()).Should().Contain(email, "the claims come from the user the gate admitted");
        reads.TakeCount().Should().Be(1, "userinfo loads its user once");

        var again = await signedIn.Flow!.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create())), maxHops: 0);
        again.StatusCode.Should().Be(HttpStatusCode.Redirect);
        BrowserFlow.Query(again.Headers.Location!).Should().ContainKey("code");
        reads.TakeCount().Should().Be(1, "the browser session at authorize loads its user once");
    }

    // A signed-in user holding everything there is to hold: a browser session, redeemed tokens, and a second code
    // not yet redeemed.
    private async Task<Holder> HolderAsync()
    {
        var email = await server.CreateUserAsync();
        var (clientId, redirectUri) = await server.CreatePublicClientAsync();
        var first = await SignedIn.ForAsync(server, email, clientId, redirectUri, "openid email offline_access api");
        using var api = server.CreateApiClient();
        var tokens = await first.RedeemAsync(api);
        var pkce = Pkce.Create();
        var second = await first.Flow!.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce)));
        second.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var code = BrowserFlow.Query(second.Headers.Location!)["code"];
        return new(email, first, tokens.GetProperty("refresh_token").GetString()!, tokens.GetProperty("access_token").GetString()!, code, pkce);
    }

    private static Task<HttpResponseMessage> UserInfoAsync(HttpClient api, string accessToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/connect/userinfo");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return api.SendAsync(request);
    }

    private sealed record Holder(string Email, SignedIn SignedIn, string RefreshToken, string AccessToken, string Code, Pkce Pkce)
    {
        public async Task ShouldBeRefusedEverywhereAsync(OAuthServerFactory node)
        {
            using var api = node.CreateApiClient();
            await (await api.RefreshAsync(SignedIn.ClientId, RefreshToken)).ShouldFailWithAsync("invalid_grant");
            await (await api.RedeemCodeAsync(SignedIn.ClientId, SignedIn.RedirectUri, Code, Pkce.Verifier)).ShouldFailWithAsync("invalid_grant");

            using var userInfo = await UserInfoAsync(api, AccessToken);
            userInfo.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
            userInfo.Headers.WwwAuthenticate.ToString().Should().Contain("invalid_token", "RFC 6750 §3.1: a token that can no longer be used");
            (await userInfo.Content.ReadAsStringAsync()).Should().NotContain(Email);

            var authorize = await SignedIn.Flow!.FollowAsync(BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(SignedIn.ClientId, SignedIn.RedirectUri, Pkce.Create())));
            authorize.StatusCode.Should().Be(HttpStatusCode.OK, "the browser session no longer signs the user in");
            (await authorize.Content.ReadAsStringAsync()).Should().Contain("action=\"/account/login\"");
        }
    }

    /// <summary>
    /// Counts the SQL commands that read this one user's row, as EF Core reports them through its diagnostic source
    /// (every command the server runs, on every request): a SELECT from the users table with the user's id as a
    /// parameter. Other tests' users have other ids, so running beside them doesn't change the count.
    /// </summary>
    private sealed partial class UserRowReads : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
    {
        private readonly Guid _userId;
        private readonly IDisposable _listeners;
        private readonly List<IDisposable> _subscriptions = [];
        private int _count;

        public UserRowReads(Guid userId)
        {
            _userId = userId;
            _listeners = DiagnosticListener.AllListeners.Subscribe(this);
        }

        /// <summary>The reads since the last call.</summary>
        public int TakeCount() => Interlocked.Exchange(ref _count, 0);

        public void OnNext(DiagnosticListener value)
        {
            if (value.Name == DbLoggerCategory.Name)
            {
                lock (_subscriptions)
                {
                    _subscriptions.Add(value.Subscribe(this, name => name == RelationalEventId.CommandExecuting.Name));
                }
            }
        }

        public void OnNext(KeyValuePair<string, object?> value)
        {
            if (value.Value is CommandEventData { Command: var command }
                && FromUsers().IsMatch(command.CommandText)
                && command.Parameters.Cast<DbParameter>().Any(parameter => parameter.Value is Guid id && id == _userId))
            {
                Interlocked.Increment(ref _count);
            }
        }

        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void Dispose()
        {
            _listeners.Dispose();
            lock (_subscriptions)
            {
                _subscriptions.ForEach(subscription => subscription.Dispose());
            }
        }

        [GeneratedRegex("""FROM "?users"?\b""", RegexOptions.IgnoreCase)]
        private static partial Regex FromUsers();
    }
}
