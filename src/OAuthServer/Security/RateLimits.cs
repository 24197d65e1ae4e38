using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using OAuthServer.Observability;
using StackExchange.Redis;

namespace OAuthServer.Security;

/// <summary>One fixed-window budget: <see cref="PermitLimit"/> requests per <see cref="Window"/>.</summary>
internal sealed class RateLimitPolicyOptions
{
    public int PermitLimit { get; set; }

    public TimeSpan Window { get; set; }
}

/// <summary>
/// The <c>RateLimiting</c> section: one fixed-window budget per policy (add a policy here and to
/// <see cref="RateLimits.Policies"/>), counted in Redis when <c>Redis:Configuration</c> is set, so all nodes
/// share one budget.
/// </summary>
internal sealed class RateLimitingOptions
{
    public const string Section = "RateLimiting";

    public bool Enabled { get; set; } = true;

    /// <summary>Login form posts per client IP.</summary>
    public RateLimitPolicyOptions LoginPerIp { get; set; } = new() { PermitLimit = 30, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Login attempts per account (normalised email), whatever the IP; checked before any hashing.</summary>
    public RateLimitPolicyOptions LoginPerAccount { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(5) };

    /// <summary>
    /// Back-channel requests (token, PAR, introspection, revocation) per client address that do not authenticate a
    /// confidential client: requests without client credentials, and those whose credentials failed.
    /// </summary>
    public RateLimitPolicyOptions TokenPerIp { get; set; } = new() { PermitLimit = 120, Window = TimeSpan.FromMinutes(1) };

    /// <summary>
    /// Back-channel requests that authenticated a confidential client, per client_id from all addresses. Only
    /// the holder of the secret can spend it, so it is generous: a resource server introspecting, a
    /// backend-for-frontend refreshing for many users.
    /// </summary>
    public RateLimitPolicyOptions TokenPerClient { get; set; } = new() { PermitLimit = 1200, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Authorization endpoint requests per client IP.</summary>
    public RateLimitPolicyOptions AuthorizePerIp { get; set; } = new() { PermitLimit = 60, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Failed client authentications per client_id and client IP at the token, PAR, introspection and revocation endpoints.</summary>
    public RateLimitPolicyOptions ClientAuthFailures { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(5) };

    /// <summary>
    /// Failed client authentications per client_id from all addresses together: the ceiling for a distributed
    /// guesser. Once spent, an address that has failed for that client_id in its window gets no further attempt
    /// for it; an address that has not (the real client) is never refused by it.
    /// </summary>
    public RateLimitPolicyOptions ClientAuthFailuresPerClient { get; set; } = new() { PermitLimit = 100, Window = TimeSpan.FromMinutes(5) };

    /// <summary>
    /// IPv6 clients are counted per network of this prefix length (a /64 is one subscriber's, and holds more
    /// addresses than any budget); IPv4 clients per address.
    /// </summary>
    public int IPv6PrefixLength { get; set; } = 64;

    /// <summary>The prefix of the Redis keys, so several deployments can share one Redis.</summary>
    public string RedisKeyPrefix { get; set; } = "oauthserver";
}

internal sealed class RedisOptions
{
    public const string Section = "Redis";

    /// <summary>A StackExchange.Redis configuration string, e.g. <c>redis:6379</c>. Unset: counters are per node.</summary>
    public string? Configuration { get; set; }
}

internal sealed class RateLimitingOptionsValidator : IValidateOptions<RateLimitingOptions>
{
    public ValidateOptionsResult Validate(string? name, RateLimitingOptions options)
    {
        var failures = new List<string>();
        foreach (var (key, policy) in RateLimits.Policies(options))
        {
            if (policy.PermitLimit < 1 || policy.Window <= TimeSpan.Zero)
            {
                failures.Add($"RateLimiting:{key} needs a PermitLimit of at least 1 and a positive Window.");
            }
        }

        if (options.IPv6PrefixLength is < 1 or > 128)
        {
            failures.Add("RateLimiting:IPv6PrefixLength must be between 1 and 128.");
        }

        if (string.IsNullOrWhiteSpace(options.RedisKeyPrefix))
        {
            failures.Add("RateLimiting:RedisKeyPrefix must not be empty.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}


/// <summary>The verdict of one check: allowed, or refused with the time to wait.</summary>
internal readonly record struct RateLimitDecision(bool Allowed, string Policy, TimeSpan RetryAfter);

/// <summary>
/// The one rate-limit mechanism of the server (threat model 1.2): a fixed-window counter per policy and key, in
/// Redis when configured and in memory otherwise. A permit can be spent up front and given back
/// (<see cref="ReleaseAsync"/>), so a budget of failures is reserved before the attempt is judged: N parallel
/// guesses can't all pass a check that sees none of them. If Redis fails, the in-memory counters answer
/// instead (fail open to a per-node limit, never to no limit), the failure is logged and counted, and auth
/// goes on.
/// </summary>
internal sealed partial class RateLimits : IAsyncDisposable
{
    public const string LoginPerIp = nameof(RateLimitingOptions.LoginPerIp);
    public const string LoginPerAccount = nameof(RateLimitingOptions.LoginPerAccount);
    public const string TokenPerIp = nameof(RateLimitingOptions.TokenPerIp);
    public const string TokenPerClient = nameof(RateLimitingOptions.TokenPerClient);
    public const string AuthorizePerIp = nameof(RateLimitingOptions.AuthorizePerIp);
    public const string ClientAuthFailures = nameof(RateLimitingOptions.ClientAuthFailures);
    public const string ClientAuthFailuresPerClient = nameof(RateLimitingOptions.ClientAuthFailuresPerClient);

    private readonly RateLimitingOptions _options;
    private readonly Dictionary<string, RateLimitPolicyOptions> _policies;
    private readonly OAuthMetrics _metrics;
    private readonly ILogger<RateLimits> _logger;
    private readonly MemoryCounterStore _local;
    private readonly RedisCounterStore? _shared;
    private long _lastStoreFailureLog;

    public RateLimits(IOptions<RateLimitingOptions> options, IOptions<RedisOptions> redis, OAuthMetrics metrics, ILogger<RateLimits> logger, TimeProvider time)
    {
        _options = options.Value;
        _policies = Policies(_options).ToDictionary(item => item.Name, item => item.Policy, StringComparer.Ordinal);
        _metrics = metrics;
        _logger = logger;
        _local = new MemoryCounterStore(time);
        if (!string.IsNullOrWhiteSpace(redis.Value.Configuration))
        {
            _shared = new RedisCounterStore(redis.Value.Configuration, _options.RedisKeyPrefix);
        }
    }

    public bool Enabled => _options.Enabled;

    public static IEnumerable<(string Name, RateLimitPolicyOptions Policy)> Policies(RateLimitingOptions options) =>
    [
        (LoginPerIp, options.LoginPerIp),
        (LoginPerAccount, options.LoginPerAccount),
        (TokenPerIp, options.TokenPerIp),
        (TokenPerClient, options.TokenPerClient),
        (AuthorizePerIp, options.AuthorizePerIp),
        (ClientAuthFailures, options.ClientAuthFailures),
        (ClientAuthFailuresPerClient, options.ClientAuthFailuresPerClient),
    ];

    /// <summary>
    /// The key a client address is counted under: an IPv4 address (IPv4-mapped IPv6 included) as itself, an
    /// IPv6 address as its network of <see cref="RateLimitingOptions.IPv6PrefixLength"/> bits, so the 2^64
    /// addresses of one subscriber's /64 are one client.
    /// </summary>
    public string AddressKey(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        var prefix = _options.IPv6PrefixLength;
        for (var bit = prefix; bit < 128; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return $"{new IPAddress(bytes)}/{prefix}";
    }

    /// <summary>Spends one permit of <paramref name="policy"/> for <paramref name="key"/>; refused when none is left.</summary>
    public ValueTask<RateLimitDecision> AcquireAsync(string policy, string key, CancellationToken cancellationToken) =>
        DecideAsync(policy, key, delta: 1, cancellationToken);

    /// <summary>Asks whether <paramref name="key"/> has a permit left, spending none.</summary>
    public ValueTask<RateLimitDecision> PeekAsync(string policy, string key, CancellationToken cancellationToken) =>
        DecideAsync(policy, key, delta: 0, cancellationToken);

    /// <summary>How many permits <paramref name="key"/> has spent in its current window (0 when limits are off).</summary>
    public async ValueTask<long> CountAsync(string policy, string key, CancellationToken cancellationToken) =>
        _options.Enabled ? (await CountAsync(policy, key, delta: 0, cancellationToken)).Count : 0;

    /// <summary>Gives back a permit spent by <see cref="AcquireAsync"/> in the same window (the attempt turned out fine).</summary>
    public async ValueTask ReleaseAsync(string policy, string key)
    {
        if (_options.Enabled)
        {
            await CountAsync(policy, key, delta: -1, CancellationToken.None);
        }
    }

    private async ValueTask<RateLimitDecision> DecideAsync(string policy, string key, int delta, CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return new(true, policy, TimeSpan.Zero);
        }

        var (count, remaining) = await CountAsync(policy, key, delta, cancellationToken);
        // Note: a spend is allowed if it fits (count after it <= limit); a peek if one more would fit.
        var allowed = delta > 0 ? count <= _policies[policy].PermitLimit : count < _policies[policy].PermitLimit;
        if (allowed)
        {
            return new(true, policy, TimeSpan.Zero);
        }

        _metrics.RateLimited.Add(1, new KeyValuePair<string, object?>("policy", policy));
        return new(false, policy, remaining > TimeSpan.Zero ? remaining : _policies[policy].Window);
    }

    private async ValueTask<(long Count, TimeSpan Remaining)> CountAsync(string policy, string key, int delta, CancellationToken cancellationToken)
    {
        var window = _policies[policy].Window;
        var counter = $"{policy}:{key}";
        if (_shared is not null)
        {
            try
            {
                return await _shared.AddAsync(counter, delta, window, cancellationToken);
            }
            catch (Exception exception) when (exception is RedisException or TimeoutException or ObjectDisposedException)
            {
                _metrics.RateLimitStoreFailures.Add(1);
                LogStoreFailure(exception);
            }
        }

        return _local.Add(counter, delta, window);
    }

    // At most one log line every 30 seconds while Redis is down; the metric counts every failure.
    private void LogStoreFailure(Exception exception)
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastStoreFailureLog);
        if (now - last > 30_000 && Interlocked.CompareExchange(ref _lastStoreFailureLog, now, last) == last)
        {
            LogRedisDown(_logger, exception.GetType().Name, exception.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_shared is not null)
        {
            await _shared.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The shared rate-limit store (Redis) failed ({ExceptionType}: {Reason}); limits are enforced per node until it returns")]
    private static partial void LogRedisDown(ILogger logger, string exceptionType, string reason);
}
