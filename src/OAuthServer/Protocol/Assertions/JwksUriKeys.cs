using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace OAuthServer.Protocol.Assertions;

/// <summary>
/// The keys of clients registered with a jwks_uri: fetched by this server with a bounded client, checked like
/// registered keys (<see cref="ClientKeySet"/>), and kept per client for <see cref="AssertionOptions.JwksUriCacheLifetime"/>.
/// </summary>
/// <remarks>
/// Note: the fetch is a request this server makes on a client's behalf, so it is bounded every way an attacker
/// could stretch it: a timeout, a size limit, no redirects, and (outside Development) https only and a check of
/// the address actually connected to, not only the one registered, so a name that later resolves to a private
/// address (DNS rebinding) is refused too. An unknown kid triggers a refetch (the client rotated its keys), at most
/// once per <see cref="AssertionOptions.JwksUriMinRefetchInterval"/>. An entry belongs to one version of the
/// client's row (its concurrency token), so any change of the client, on any node, drops it.
/// </remarks>
internal sealed partial class JwksUriKeys : IDisposable
{
    // Far more than the private_key_jwt clients of one deployment; reaching it just empties the cache.
    private const int MaxEntries = 10_000;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _fetching = new(StringComparer.Ordinal);
    private readonly HttpClient _http;
    private readonly AssertionOptions _options;
    private readonly TimeProvider _time;
    private readonly bool _development;
    private readonly ILogger<JwksUriKeys> _logger;

    public JwksUriKeys(IOptions<AssertionOptions> options, IHostEnvironment environment, TimeProvider time, ILogger<JwksUriKeys> logger)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        _development = environment.IsDevelopment();
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            ConnectTimeout = _options.JwksUriTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxResponseHeadersLength = 16,
            ConnectCallback = ConnectAsync,
        };
        _http = new HttpClient(handler) { Timeout = _options.JwksUriTimeout, MaxResponseContentBufferSize = _options.JwksUriMaxBytes };
        _http.DefaultRequestHeaders.Accept.ParseAdd("application/jwk-set+json, application/json");
    }

    /// <summary>
    /// What is wrong with registering <paramref name="value"/> as a jwks_uri: its form, and outside Development the
    /// addresses its host resolves to now.
    /// </summary>
    public async Task<string?> RegistrationProblemAsync(string value, CancellationToken cancellationToken)
    {
        var problem = ClientKeySet.JwksUriProblem(value, _development);
        if (problem is not null || _development)
        {
            return problem;
        }

        var host = new Uri(value).DnsSafeHost;
        try
        {
            var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
            return addresses.Length == 0 || addresses.Any(address => !ClientKeySet.IsPublic(address))
                ? "jwks_uri must not resolve to a loopback, private or link-local address."
                : null;
        }
        catch (SocketException)
        {
            return "jwks_uri's host does not resolve.";
        }
    }

    /// <summary>The keys last fetched for this version of the client, without fetching.</summary>
    public JsonWebKeySet? Cached(string clientId, string version) =>
        _entries.TryGetValue(clientId, out var entry) && entry.Version == version && entry.Keys is { } keys
            && _time.GetUtcNow() - entry.FetchedAt < _options.JwksUriCacheLifetime ? keys : null;

    /// <summary>
    /// Makes sure the keys of this version of the client are cached and, if <paramref name="kid"/> is given, that
    /// they include it when a refetch is allowed. Null on success; otherwise why the keys are not available.
    /// </summary>
    public async Task<string?> EnsureAsync(string clientId, string version, string jwksUri, string? kid)
    {
        var now = _time.GetUtcNow();
        if (Usable(clientId, version, jwksUri, kid, now, out var problem))
        {
            return problem;
        }

        var gate = _fetching.GetOrAdd(clientId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(_options.JwksUriTimeout * 2);
        try
        {
            // Note: parallel requests wait for the one fetch in flight and then read what it found.
            now = _time.GetUtcNow();
            if (Usable(clientId, version, jwksUri, kid, now, out problem))
            {
                return problem;
            }

            var (keys, failure) = await FetchAsync(jwksUri);
            if (_entries.Count >= MaxEntries)
            {
                _entries.Clear();
            }

            var previous = _entries.TryGetValue(clientId, out var old) && old.Version == version ? old : null;
            // Note: a failed refetch keeps the keys that worked (a client's server hiccup should not lock it out
            // until the cache lifetime ends), but counts as an attempt for the refetch floor.
            _entries[clientId] = keys is not null
                ? new Entry(version, jwksUri, keys, now, now)
                : new Entry(version, jwksUri, previous?.Keys, previous?.FetchedAt ?? now, now);
            if (failure is not null)
            {
                LogFetchFailed(_logger, clientId, failure);
                return previous?.Keys is not null && (kid is null || HasKid(previous.Keys, kid)) ? null : failure;
            }

            return kid is null || HasKid(keys!, kid) ? null : "The assertion's kid is not among the client's keys.";
        }
        finally
        {
            gate.Release();
        }
    }

    // True when the cache answers (problem then says whether the kid is missing); false when a fetch should be tried.
    private bool Usable(string clientId, string version, string jwksUri, string? kid, DateTimeOffset now, out string? problem)
    {
        problem = null;
        if (!_entries.TryGetValue(clientId, out var entry) || entry.Version != version || entry.JwksUri != jwksUri)
        {
            return false;
        }

        var fresh = entry.Keys is not null && now - entry.FetchedAt < _options.JwksUriCacheLifetime;
        var mayRefetch = now - entry.AttemptedAt >= _options.JwksUriMinRefetchInterval;
        if (fresh && (kid is null || HasKid(entry.Keys!, kid)))
        {
            return true;
        }

        if (mayRefetch)
        {
            return false;
        }

        problem = entry.Keys is null ? "The client's jwks_uri could not be read; try again later." : "The assertion's kid is not among the client's keys.";
        return true;
    }

    private static bool HasKid(JsonWebKeySet keys, string kid) => keys.Keys.Any(key => string.Equals(key.Kid, kid, StringComparison.Ordinal));

    private async Task<(JsonWebKeySet? Keys, string? Failure)> FetchAsync(string jwksUri)
    {
        if (ClientKeySet.JwksUriProblem(jwksUri, _development) is { } problem)
        {
            return (null, problem);
        }

        try
        {
            using var timeout = new CancellationTokenSource(_options.JwksUriTimeout);
            using var response = await _http.GetAsync(new Uri(jwksUri), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (null, $"jwks_uri answered {(int)response.StatusCode}.");
            }

            if (response.Content.Headers.ContentLength > _options.JwksUriMaxBytes)
            {
                return (null, "jwks_uri's response is too large.");
            }

            var json = await ReadBoundedAsync(response.Content, timeout.Token);
            if (json is null)
            {
                return (null, "jwks_uri's response is too large.");
            }

            var (canonical, invalid) = ClientKeySet.Parse(json);
            return canonical is null ? (null, "jwks_uri's keys are refused: " + invalid) : (new JsonWebKeySet(canonical), null);
        }
        catch (OperationCanceledException)
        {
            return (null, "jwks_uri did not answer in time.");
        }
        catch (HttpRequestException exception)
        {
            return (null, "jwks_uri could not be read: " + ((exception.InnerException as RefusedAddressException)?.Message ?? "connection failed."));
        }
    }

    // Note: the body is read through a counting limit, since a server can send more than its Content-Length says,
    // or stream without one.
    private async Task<string?> ReadBoundedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[_options.JwksUriMaxBytes + 1];
        var total = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken)) > 0)
        {
            total += read;
            if (total > _options.JwksUriMaxBytes)
            {
                return null;
            }
        }

        return System.Text.Encoding.UTF8.GetString(buffer, 0, total);
    }

    // Note: outside Development, every address the connection could go to is checked at connect time, after DNS,
    // so what was checked is what is reached.
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(context.DnsEndPoint.Host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancellationToken);
        if (!_development)
        {
            addresses = [.. addresses.Where(ClientKeySet.IsPublic)];
            if (addresses.Length == 0)
            {
                throw new RefusedAddressException();
            }
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Forgets a client's keys (its row changed or it was deleted).</summary>
    public void Forget(string clientId) => _entries.TryRemove(clientId, out _);

    public void Dispose() => _http.Dispose();

    private sealed record Entry(string Version, string JwksUri, JsonWebKeySet? Keys, DateTimeOffset FetchedAt, DateTimeOffset AttemptedAt);

    private sealed class RefusedAddressException() : IOException("its host resolves only to loopback, private or link-local addresses.");

    [LoggerMessage(Level = LogLevel.Warning, Message = "jwks_uri of client {ClientId} could not be used: {Reason}")]
    private static partial void LogFetchFailed(ILogger logger, string clientId, string reason);
}
