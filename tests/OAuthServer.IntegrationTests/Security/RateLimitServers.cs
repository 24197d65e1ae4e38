using System.Net;
using System.Security.Cryptography;
using System.Text;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// Servers with the limits on, on either counter store: every limit test runs once per store (theory data
/// <see cref="Stores"/>), since the in-memory and the Redis counters are two implementations of one budget.
/// Requests come through a trusted proxy (127.0.0.1 in Server:KnownProxies) that names the client in
/// X-Forwarded-For, so a test acts as many clients from documentation addresses; only the header differs.
/// </summary>
[CollectionDefinition(RateLimitServers.Collection)]
public sealed class RateLimitedServers;

public static class RateLimitServers
{
    public const string Memory = "memory";
    public const string Redis = "redis";

    /// <summary>
    /// The collection of every class that turns the limits on: they run one at a time, so a test that reads the
    /// process-wide refusal counter sees only its own server's refusals.
    /// </summary>
    public const string Collection = "rate-limits";

    public const string Secret = "a-client-secret-for-rate-limit-tests-000";

    public static TheoryData<string> Stores => [Memory, Redis];

    public static string RedisConfiguration => Environment.GetEnvironmentVariable("OAUTH_TEST_REDIS")
        ?? throw new InvalidOperationException("OAUTH_TEST_REDIS is not set: run ops/test.sh.");

    /// <summary>
    /// A server with the limits on, behind the trusted proxy. With Redis, its counters get a key prefix of their
    /// own (pass <paramref name="redisKeyPrefix"/> to share one between nodes), so tests never share a budget.
    /// </summary>
    public static Task<CustomServer> StartAsync(string store, Dictionary<string, string?> settings, string? shared = null, string? redisKeyPrefix = null)
    {
        settings["RateLimiting:Enabled"] = "true";
        // Note: a null Server:KnownProxies:0 asks for no trusted proxy at all.
        if (settings.TryGetValue("Server:KnownProxies:0", out var proxy) && proxy is null)
        {
            settings.Remove("Server:KnownProxies:0");
        }
        else
        {
            settings.TryAdd("Server:KnownProxies:0", "127.0.0.1");
        }
        if (store == Redis)
        {
            settings["Redis:Configuration"] = RedisConfiguration;
            settings["RateLimiting:RedisKeyPrefix"] = redisKeyPrefix ?? "test-" + Guid.NewGuid().ToString("N");
        }

        return CustomServer.StartAsync(settings, shared);
    }

    /// <summary>A client address from TEST-NET-2 (RFC 5737), other than the ones given.</summary>
    public static string NewIp(params string[] except)
    {
        while (true)
        {
            var ip = $"198.51.100.{RandomNumberGenerator.GetInt32(1, 255)}";
            if (!except.Contains(ip))
            {
                return ip;
            }
        }
    }

    /// <summary>Distinct TEST-NET-3 addresses (RFC 5737), for floods from many sources.</summary>
    public static string[] ManyIps(int count) => [.. Enumerable.Range(1, count).Select(index => $"203.0.113.{index}")];

    public static async Task<string> RegisterServiceClientAsync(OAuthServerFactory node) => await node.RegisterClientAsync(new ClientRegistration
    {
        ClientId = "svc-" + Guid.NewGuid().ToString("N")[..12],
        Kind = ClientKind.Confidential,
        Secret = Secret,
        AllowClientCredentials = true,
        Scopes = ["api"],
    });

    public static Task<HttpResponseMessage> ClientCredentialsAsync(HttpClient api, string ip, string clientId, string secret, string path = "/connect/token") =>
        PostFormAsync(api, ip, path, new()
        {
            ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret, ["scope"] = "api",
        });

    /// <summary>The same request with the credentials in HTTP Basic (client_secret_basic) instead of the body.</summary>
    public static async Task<HttpResponseMessage> ClientCredentialsBasicAsync(HttpClient api, string ip, string clientId, string secret)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["scope"] = "api" }),
        };
        request.Headers.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Uri.EscapeDataString(clientId)}:{Uri.EscapeDataString(secret)}")));
        request.Headers.Add("X-Forwarded-For", ip);
        return await api.SendAsync(request);
    }

    public static async Task<HttpResponseMessage> PostFormAsync(HttpClient api, string ip, string path, Dictionary<string, string> form)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add("X-Forwarded-For", ip);
        return await api.SendAsync(request);
    }

    public static HttpStatusCode Status(this HttpResponseMessage response)
    {
        using (response)
        {
            return response.StatusCode;
        }
    }
}
