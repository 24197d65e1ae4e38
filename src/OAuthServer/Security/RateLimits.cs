using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using OAuthServer.Observability;
using StackExchange.Redis;

namespace OAuthServer.Security;

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
    public const string UserCodePerIp = nameof(RateLimitingOptions.UserCodePerIp);
    public const string DevicePolling = nameof(RateLimitingOptions.DevicePolling);
    public const string ForgotPasswordPerIp = nameof(RateLimitingOptions.ForgotPasswordPerIp);
    public const string ForgotPasswordPerAddress = nameof(RateLimitingOptions.ForgotPasswordPerAddress);
    public const string ResetPasswordPerIp = nameof(RateLimitingOptions.ResetPasswordPerIp);
    public const string AccountPerIp = nameof(RateLimitingOptions.AccountPerIp);
    public const string PasswordChangePerUser = nameof(RateLimitingOptions.PasswordChangePerUser);

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
        (UserCodePerIp, options.UserCodePerIp),
        (DevicePolling, options.DevicePolling),
        (ForgotPasswordPerIp, options.ForgotPasswordPerIp),
        (ForgotPasswordPerAddress, options.ForgotPasswordPerAddress),
        (ResetPasswordPerIp, options.ResetPasswordPerIp),
        (AccountPerIp, options.AccountPerIp),
        (PasswordChangePerUser, options.PasswordChangePerUser),
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
