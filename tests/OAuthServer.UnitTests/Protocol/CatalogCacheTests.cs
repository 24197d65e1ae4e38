using OAuthServer.Protocol.Catalog;
using OpenIddict.EntityFrameworkCore.Models;

namespace OAuthServer.UnitTests.Protocol;

public sealed class CatalogCacheTests
{
    private readonly Clock _clock = new();

    [Fact]
    public void Nothing_is_served_while_changes_are_not_known_to_arrive()
    {
        var cache = new CatalogCache(_clock);
        cache.RememberClient(cache.CurrentGeneration, Client("spa", "v1"));
        cache.TryGetClient("spa", out _).Should().BeFalse("the listener has not confirmed it hears notifications");

        cache.SetListening(true);
        cache.RememberClient(cache.CurrentGeneration, Client("spa", "v1"));
        cache.TryGetClient("spa", out var served).Should().BeTrue();
        served!.ConcurrencyToken.Should().Be("v1");

        cache.SetListening(false);
        cache.TryGetClient("spa", out _).Should().BeFalse();
        cache.SetListening(true);
        cache.TryGetClient("spa", out _).Should().BeFalse("what was known before the gap is forgotten");
    }

    [Fact]
    public void A_read_that_began_before_a_change_is_not_remembered_after_it()
    {
        var cache = new CatalogCache(_clock);
        cache.SetListening(true);
        var readStartedIn = cache.CurrentGeneration;
        cache.Invalidate(); // the notification arrives while the read is in flight
        cache.RememberClient(readStartedIn, Client("spa", "old"));
        cache.TryGetClient("spa", out _).Should().BeFalse();

        cache.RememberScopes(readStartedIn, [new OpenIddictEntityFrameworkCoreScope { Id = "1", Name = "api" }]);
        cache.Scopes.Should().BeNull();
    }

    [Fact]
    public void Every_request_gets_its_own_copy_with_every_column_and_nothing_outlives_the_ceiling()
    {
        var cache = new CatalogCache(_clock);
        cache.SetListening(true);
        var stored = Client("svc", "v1");
        cache.RememberClient(cache.CurrentGeneration, stored);
        cache.TryGetClient("svc", out var first).Should().BeTrue();
        cache.TryGetClient("svc", out var second).Should().BeTrue();
        first.Should().NotBeSameAs(second).And.NotBeSameAs(stored);
        first.Should().BeEquivalentTo(stored, options => options.Excluding(client => client.Authorizations).Excluding(client => client.Tokens));
        first!.Permissions = "changed by one request";
        cache.TryGetClient("svc", out var third).Should().BeTrue();
        third!.Permissions.Should().Be(stored.Permissions);

        _clock.Advance(CatalogCache.MaxAge);
        cache.TryGetClient("svc", out _).Should().BeFalse();
    }

    // Every string column set to a distinct value, so a column the copy forgot shows up as a difference.
    private static OpenIddictEntityFrameworkCoreApplication Client(string clientId, string version)
    {
        var client = new OpenIddictEntityFrameworkCoreApplication();
        foreach (var property in typeof(OpenIddictEntityFrameworkCoreApplication).GetProperties().Where(property => property.PropertyType == typeof(string) && property.CanWrite))
        {
            property.SetValue(client, $"{property.Name}-{Guid.NewGuid():N}");
        }

        client.ClientId = clientId;
        client.ConcurrencyToken = version;
        return client;
    }

    private sealed class Clock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
