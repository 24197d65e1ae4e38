using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Linq.Expressions;
using System.Reflection;
using OpenIddict.EntityFrameworkCore.Models;

namespace OAuthServer.Protocol.Catalog;

/// <summary>
/// The clients and scopes the protocol endpoints read on every request, held in memory between requests.
/// Both change only through administration (admin API, CLI, registration, bootstrap), and every such change
/// reaches every node: each commit that touches them sends a PostgreSQL notification
/// (<see cref="CatalogChangeNotifier"/>) that every node's <see cref="CatalogChangeListener"/> turns into
/// <see cref="Invalidate"/>.
/// </summary>
/// <remarks>
/// Note: deny by default. The cache answers only while the listener is connected and its own test notification
/// has come back (<see cref="Active"/>); otherwise every read goes to the database, as without a cache. Entries are
/// filled only from reads that began in the current generation, so a read that raced a change can't put the old
/// row back after the notification. Whatever happens, nothing is served that is older than <see cref="MaxAge"/>.
/// </remarks>
internal sealed class CatalogCache(TimeProvider time)
{
    /// <summary>The longest a cached row is served, even if a notification was lost.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(60);

    // Far more than the clients of one deployment; past it, new clients are read from the database each time.
    private const int MaxClients = 10_000;

    private volatile Generation _current = new(0, time.GetUtcNow(), null);
    private volatile bool _listening;

    /// <summary>True while changes are known to reach this node: the cache may answer.</summary>
    public bool Active => _listening;

    /// <summary>The generation a read starts in; pass it to the Remember call that stores what the read found.</summary>
    public long CurrentGeneration => Fresh().Number;

    public void SetListening(bool listening)
    {
        _listening = listening;
        Invalidate();
    }

    /// <summary>Forgets everything: a client or scope changed somewhere, or this node may have missed a change.</summary>
    public void Invalidate()
    {
        // Note: a new generation object, not a cleared one: a read of the old generation that finishes later
        // stores into the abandoned object, where no one looks.
        var next = _current.Number + 1;
        _current = new Generation(next, time.GetUtcNow(), null);
    }

    /// <summary>A copy of that client's row, for one request, when the cache may answer and knows it.</summary>
    public bool TryGetClient(string clientId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OpenIddictEntityFrameworkCoreApplication? client)
    {
        client = null;
        if (!Active || !Fresh().Clients.TryGetValue(clientId, out var row))
        {
            return false;
        }

        client = Copy(row);
        return true;
    }

    public void RememberClient(long generation, OpenIddictEntityFrameworkCoreApplication client)
    {
        var current = Fresh();
        if (Active && current.Number == generation && client.ClientId is { } clientId && current.Clients.Count < MaxClients)
        {
            current.Clients[clientId] = Copy(client);
        }
    }

    /// <summary>
    /// Every scope by name (shared rows: hand out only a <see cref="Copy{T}"/>), or null when the scopes must be read
    /// from the database.
    /// </summary>
    public IReadOnlyDictionary<string, OpenIddictEntityFrameworkCoreScope>? Scopes => Active ? Fresh().Scopes : null;

    /// <summary>
    /// Indexes every scope by name, keeps the index if the read that found them began in the current generation, and
    /// returns it either way. The rows become the shared ones: pass rows no DbContext tracks and no caller keeps.
    /// </summary>
    public IReadOnlyDictionary<string, OpenIddictEntityFrameworkCoreScope> RememberScopes(long generation, IEnumerable<OpenIddictEntityFrameworkCoreScope> untracked)
    {
        var index = untracked.Where(scope => scope.Name is not null).ToFrozenDictionary(scope => scope.Name!, StringComparer.Ordinal);
        var current = Fresh();
        if (Active && current.Number == generation)
        {
            current.Scopes = index;
        }

        return index;
    }

    private Generation Fresh()
    {
        var current = _current;
        if (time.GetUtcNow() - current.Started < MaxAge)
        {
            return current;
        }

        Invalidate();
        return _current;
    }

    // Note: a field-for-field copy of every settable property, so a new OpenIddict column is copied too. A request
    // gets its own copy (it is attached to the request's DbContext), never the shared row.
    public static T Copy<T>(T source) where T : class, new() => Copier<T>.Copy(source);

    private static class Copier<T> where T : class, new()
    {
        // Note: scalar properties only; the navigation collections (a client's tokens and authorizations) stay empty.
        // Compiled once per type into `source => new T { A = source.A, ... }`: copies run on every token request,
        // and reflection's per-property get and set was ~1 % of a refresh (issue 15 profile).
        public static readonly Func<T, T> Copy = Compile();

        private static Func<T, T> Compile()
        {
            var source = Expression.Parameter(typeof(T), "source");
            var bindings = typeof(T).GetProperties(BindingFlags.Instance | BindingFlags.Public)
                .Where(property => property.CanRead && property.CanWrite
                    && (property.PropertyType.IsValueType || property.PropertyType == typeof(string)))
                .Select(property => (MemberBinding)Expression.Bind(
                    property, Expression.Property(source, property)));
            var body = Expression.MemberInit(Expression.New(typeof(T)), bindings);
            return Expression.Lambda<Func<T, T>>(body, source).Compile();
        }
    }

    private sealed class Generation(long number, DateTimeOffset started, FrozenDictionary<string, OpenIddictEntityFrameworkCoreScope>? scopes)
    {
        public long Number { get; } = number;

        public DateTimeOffset Started { get; } = started;

        public ConcurrentDictionary<string, OpenIddictEntityFrameworkCoreApplication> Clients { get; } = new(StringComparer.Ordinal);

        public FrozenDictionary<string, OpenIddictEntityFrameworkCoreScope>? Scopes { get; set; } = scopes;
    }
}
