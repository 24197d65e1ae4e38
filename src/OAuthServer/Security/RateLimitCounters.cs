using System.Collections.Concurrent;
using StackExchange.Redis;

namespace OAuthServer.Security;

/// <summary>
/// Fixed-window counters in this process. A window starts with the first count of a key and lasts its policy's
/// window; counting a refused attempt never extends it.
/// </summary>
internal sealed class MemoryCounterStore(TimeProvider time)
{
    // Expired counters are swept once every this many counts, so memory follows the live keys only.
    private const int SweepInterval = 4096;

    private readonly ConcurrentDictionary<string, Counter> _counters = new(StringComparer.Ordinal);
    private long _operations;

    public (long Count, TimeSpan Remaining) Add(string key, int delta, TimeSpan window)
    {
        var now = time.GetUtcNow();
        if (Interlocked.Increment(ref _operations) % SweepInterval == 0)
        {
            foreach (var (name, stale) in _counters)
            {
                if (stale.IsExpired(now))
                {
                    _counters.TryRemove(new KeyValuePair<string, Counter>(name, stale));
                }
            }
        }

        while (true)
        {
            if (delta <= 0 && !_counters.ContainsKey(key))
            {
                return (0, TimeSpan.Zero);
            }

            var counter = _counters.GetOrAdd(key, static (_, state) => new Counter(state.now + state.window), (now, window));
            lock (counter)
            {
                if (counter.IsExpired(now))
                {
                    // A fresh window; a look or a give-back never opens one (a give-back would hand out a permit
                    // the window never had).
                    _counters.TryRemove(new KeyValuePair<string, Counter>(key, counter));
                    if (delta <= 0)
                    {
                        return (0, TimeSpan.Zero);
                    }

                    continue;
                }

                counter.Count = Math.Max(0, counter.Count + delta);
                return (counter.Count, counter.Expires - now);
            }
        }
    }

    private sealed class Counter(DateTimeOffset expires)
    {
        public DateTimeOffset Expires { get; } = expires;

        public long Count { get; set; }

        public bool IsExpired(DateTimeOffset now) => now >= Expires;
    }
}

/// <summary>
/// The same counters in Redis, shared by every node: one Lua script adds and sets the expiry atomically, so
/// concurrent requests on several nodes can't both see the last permit.
/// </summary>
internal sealed class RedisCounterStore : IAsyncDisposable
{
    // KEYS[1] the counter, ARGV[1] the delta, ARGV[2] the window in ms. Returns {count, remaining ms}.
    // Note: a look (delta 0) or a give-back (negative) never opens a window, and a count never drops below 0.
    private const string Script = """
        local delta = tonumber(ARGV[1])
        if delta <= 0 and redis.call('EXISTS', KEYS[1]) == 0 then
          return {0, 0}
        end
        local count = redis.call('INCRBY', KEYS[1], delta)
        if count < 0 then
          redis.call('INCRBY', KEYS[1], -count)
          count = 0
        end
        local remaining = redis.call('PTTL', KEYS[1])
        if remaining < 0 then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          remaining = tonumber(ARGV[2])
        end
        return {count, remaining}
        """;

    private readonly Lazy<ConnectionMultiplexer> _redis;
    private readonly string _prefix;

    public RedisCounterStore(string configurationString, string prefix)
    {
        var configuration = ConfigurationOptions.Parse(configurationString);
        // Note: never block start-up or a request on Redis: connect in the background, fail fast.
        configuration.AbortOnConnectFail = false;
        configuration.ConnectTimeout = 1000;
        configuration.SyncTimeout = 1000;
        configuration.AsyncTimeout = 1000;
        _redis = new(() => ConnectionMultiplexer.Connect(configuration));
        _prefix = prefix;
    }

    public async ValueTask<(long Count, TimeSpan Remaining)> AddAsync(string key, int delta, TimeSpan window, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var result = (RedisResult[])(await _redis.Value.GetDatabase().ScriptEvaluateAsync(
            Script, [new RedisKey($"{_prefix}:{key}")], [delta, (long)window.TotalMilliseconds]))!;
        return ((long)result[0], TimeSpan.FromMilliseconds((long)result[1]));
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis.IsValueCreated)
        {
            await _redis.Value.DisposeAsync();
        }
    }
}
