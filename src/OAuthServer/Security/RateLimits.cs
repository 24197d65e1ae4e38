using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using OAuthServer.Observability;
using RedisRateLimiting;
using StackExchange.Redis;

namespace OAuthServer.Security;

/// <summary>One fixed-window budget: <see cref="PermitLimit"/> requests per <see cref="Window"/>.</summary>
internal sealed class RateLimitPolicyOptions
{
    public int PermitLimit { get; set; }

    public TimeSpan Window { get; set; }
}

/// <summary>
/// The <c>RateLimiting</c> section. Built on ASP.NET Core's own <c>System.Threading.RateLimiting</c> (the design
/// card's AspNetCoreRateLimit is not served here and no longer keeps up with ASP.NET Core), with the counters
/// in Redis (RedisRateLimiting) when <c>Redis:Configuration</c> is set, so all nodes share one budget.
/// </summary>
internal sealed class RateLimitingOptions
{
    public const string Section = "RateLimiting";

    public bool Enabled { get; set; } = true;

    /// <summary>Login form posts per client IP.</summary>
    public RateLimitPolicyOptions LoginPerIp { get; set; } = new() { PermitLimit = 30, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Login attempts per account (normalised email), whatever the IP; checked before any hashing.</summary>
    public RateLimitPolicyOptions LoginPerAccount { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(5) };

    /// <summary>Back-channel requests (token, PAR, introspection, revocation) per client IP.</summary>
    public RateLimitPolicyOptions TokenPerIp { get; set; } = new() { PermitLimit = 120, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Authorization endpoint requests per client IP.</summary>
    public RateLimitPolicyOptions AuthorizePerIp { get; set; } = new() { PermitLimit = 60, Window = TimeSpan.FromMinutes(1) };

    /// <summary>Failed client authentications per client_id and client IP at the token, PAR, introspection and revocation endpoints.</summary>
    public RateLimitPolicyOptions ClientAuthFailures { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(5) };

    /// <summary>
    /// Failed client authentications per client_id from all IPs together: the ceiling for a distributed guesser.
    /// Higher than <see cref="ClientAuthFailures"/>, so one hostile IP can't make the real client wait.
    /// </summary>
    public RateLimitPolicyOptions ClientAuthFailuresPerClient { get; set; } = new() { PermitLimit = 100, Window = TimeSpan.FromMinutes(5) };
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

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The verdict of one check: allowed, or refused with the time to wait.</summary>
internal readonly record struct RateLimitDecision(bool Allowed, string Policy, TimeSpan RetryAfter);

/// <summary>
/// The one rate-limit mechanism of the server (threat model 1.2): fixed windows per policy and key, in Redis
/// when configured and in memory otherwise. If Redis fails, the in-memory limiter answers instead (fail open
/// to a per-node limit, never to no limit), the failure is logged and counted, and auth goes on.
/// </summary>
internal sealed partial class RateLimits : IAsyncDisposable
{
    public const string LoginPerIp = nameof(RateLimitingOptions.LoginPerIp);
    public const string LoginPerAccount = nameof(RateLimitingOptions.LoginPerAccount);
    public const string TokenPerIp = nameof(RateLimitingOptions.TokenPerIp);
    public const string AuthorizePerIp = nameof(RateLimitingOptions.AuthorizePerIp);
    public const string ClientAuthFailures = nameof(RateLimitingOptions.ClientAuthFailures);
    public const string ClientAuthFailuresPerClient = nameof(RateLimitingOptions.ClientAuthFailuresPerClient);

    private readonly RateLimitingOptions _options;
    private readonly OAuthMetrics _metrics;
    private readonly ILogger<RateLimits> _logger;
    private readonly Dictionary<string, PartitionedRateLimiter<string>> _local = [];
    private readonly Dictionary<string, PartitionedRateLimiter<string>> _shared = [];
    private readonly Lazy<ConnectionMultiplexer>? _redis;
    private long _lastStoreFailureLog;

    public RateLimits(IOptions<RateLimitingOptions> options, IOptions<RedisOptions> redis, OAuthMetrics metrics, ILogger<RateLimits> logger)
    {
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
        if (!string.IsNullOrWhiteSpace(redis.Value.Configuration))
        {
            var configuration = ConfigurationOptions.Parse(redis.Value.Configuration);
            // Note: never block start-up or a request on Redis: connect in the background, fail fast.
            configuration.AbortOnConnectFail = false;
            configuration.ConnectTimeout = 1000;
            configuration.SyncTimeout = 1000;
            configuration.AsyncTimeout = 1000;
            _redis = new(() => ConnectionMultiplexer.Connect(configuration));
        }

        foreach (var (name, policy) in Policies(_options))
        {
            _local[name] = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = policy.PermitLimit,
                Window = policy.Window,
                QueueLimit = 0,
            }));
            if (_redis is not null)
            {
                var redisConnection = _redis;
                _shared[name] = PartitionedRateLimiter.Create<string, string>(key => RedisRateLimitPartition.GetFixedWindowRateLimiter(
                    $"oauthserver:{name}:{key}", _ => new RedisFixedWindowRateLimiterOptions
                    {
                        PermitLimit = policy.PermitLimit,
                        Window = policy.Window,
                        ConnectionMultiplexerFactory = () => redisConnection.Value,
                    }));
            }
        }
    }

    public bool Enabled => _options.Enabled;

    public static IEnumerable<(string Name, RateLimitPolicyOptions Policy)> Policies(RateLimitingOptions options) =>
    [
        (LoginPerIp, options.LoginPerIp),
        (LoginPerAccount, options.LoginPerAccount),
        (TokenPerIp, options.TokenPerIp),
        (AuthorizePerIp, options.AuthorizePerIp),
        (ClientAuthFailures, options.ClientAuthFailures),
        (ClientAuthFailuresPerClient, options.ClientAuthFailuresPerClient),
    ];

    /// <summary>Spends one permit of <paramref name="policy"/> for <paramref name="key"/>.</summary>
    public ValueTask<RateLimitDecision> AcquireAsync(string policy, string key, CancellationToken cancellationToken) =>
        DecideAsync(policy, key, permits: 1, cancellationToken);

    /// <summary>Asks whether <paramref name="key"/> still has budget, without spending any.</summary>
    public ValueTask<RateLimitDecision> PeekAsync(string policy, string key, CancellationToken cancellationToken) =>
        DecideAsync(policy, key, permits: 0, cancellationToken);

    private async ValueTask<RateLimitDecision> DecideAsync(string policy, string key, int permits, CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return new(true, policy, TimeSpan.Zero);
        }

        RateLimitLease lease;
        if (_shared.TryGetValue(policy, out var shared))
        {
            try
            {
                lease = await shared.AcquireAsync(key, permits, cancellationToken);
            }
            catch (Exception exception) when (exception is RedisException or TimeoutException or ObjectDisposedException)
            {
                _metrics.RateLimitStoreFailures.Add(1);
                LogStoreFailure(exception);
                lease = _local[policy].AttemptAcquire(key, permits);
            }
        }
        else
        {
            // Note: AttemptAcquire, never AcquireAsync: the in-memory limiter would queue a request (even a
            // zero-permit peek) until the window resets, instead of refusing it now.
            lease = _local[policy].AttemptAcquire(key, permits);
        }

        using (lease)
        {
            if (lease.IsAcquired)
            {
                return new(true, policy, TimeSpan.Zero);
            }

            _metrics.RateLimited.Add(1, new KeyValuePair<string, object?>("policy", policy));
            // The in-memory lease says when the window resets as a TimeSpan, the Redis one in whole seconds.
            var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter.Name, out var wait) switch
            {
                true when wait is TimeSpan span && span > TimeSpan.Zero => span,
                true when wait is int seconds && seconds > 0 => TimeSpan.FromSeconds(seconds),
                _ => Policies(_options).Single(item => item.Name == policy).Policy.Window,
            };
            return new(false, policy, retryAfter);
        }
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
        foreach (var limiter in _local.Values.Concat(_shared.Values))
        {
            await limiter.DisposeAsync();
        }

        if (_redis is { IsValueCreated: true })
        {
            await _redis.Value.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The shared rate-limit store (Redis) failed ({ExceptionType}: {Reason}); limits are enforced per node until it returns")]
    private static partial void LogRedisDown(ILogger logger, string exceptionType, string reason);
}
