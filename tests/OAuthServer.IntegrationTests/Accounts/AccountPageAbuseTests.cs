using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.IntegrationTests.Security;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>The account page's rate limits on a server with the limits on (threat model 1.2).</summary>
[Collection(RateLimitServers.Collection)]
public sealed class AccountPageAbuseTests
{
    private static readonly string[] Paths = ["/account/password", "/account/apps/revoke", "/account/sessions/end", "/account/sessions/end-all", "/account/consent", "/account/logout"];

    [Fact]
    public async Task Every_spelling_of_every_account_post_spends_the_sender_s_one_account_page_budget()
    {
        await using var node = await RateLimitServers.StartAsync(RateLimitServers.Memory, new() { ["RateLimiting:AccountPerIp:PermitLimit"] = "1" });
        var escaped = new List<string>();
        var octet = 1;
        foreach (var path in Paths)
        {
            foreach (var spelling in new[] { path + "/", path.ToUpperInvariant(), "/Account" + path["/account".Length..] + "/", path.Replace("/account/", "/account//", StringComparison.Ordinal) })
            {
                var ip = $"192.0.2.{octet++}";
                (await PostAsync(node, path, ip)).Should().NotBe(HttpStatusCode.TooManyRequests, $"{path} from {ip} has a budget of one");
                if (await PostAsync(node, spelling, ip) != HttpStatusCode.TooManyRequests)
                {
                    escaped.Add(spelling);
                }
            }
        }

        escaped.Should().BeEmpty("every spelling of an account post is the same endpoint to the limiter");
    }

    [Fact]
    public async Task Password_changes_are_limited_per_user_whatever_the_address()
    {
        await using var node = await RateLimitServers.StartAsync(RateLimitServers.Memory, new() { ["RateLimiting:PasswordChangePerUser:PermitLimit"] = "2" });
        var email = await node.CreateUserAsync();
        var browser = await AccountBrowser.SignInAsync(node.Issuer, email);
        var statuses = new List<HttpStatusCode>();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var response = await browser.PostAsync("/account/password", new() { ["currentPassword"] = TestData.Password, ["newPassword"] = "short" });
            statuses.Add(response.StatusCode);
        }

        statuses.Should().Equal(HttpStatusCode.BadRequest, HttpStatusCode.BadRequest, HttpStatusCode.TooManyRequests);
    }

    private static async Task<HttpStatusCode> PostAsync(OAuthServerFactory node, string path, string ip)
    {
        using var client = node.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent([]) };
        request.Headers.Add("X-Forwarded-For", ip);
        return (await client.SendAsync(request)).StatusCode;
    }
}
