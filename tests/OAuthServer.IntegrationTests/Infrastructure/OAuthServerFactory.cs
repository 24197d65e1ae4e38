using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using OAuthServer.Admin;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// The real server, on Kestrel and a real loopback port, against a fresh database of its own: a new PostgreSQL
/// database (from ops/test.sh) or a temporary SQLite file.
/// </summary>
public class OAuthServerFactory : WebApplicationFactory<Program>, IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("oauth-it-").FullName;
    private readonly bool _postgres;
    private TestDatabase? _database;
    private bool _released;

    protected OAuthServerFactory(bool postgres)
    {
        _postgres = postgres;
        Port = TestPorts.Free();
        ManagementPort = TestPorts.Free();
        Issuer = new Uri($"http://127.0.0.1:{Port}/");
    }

    public OAuthServerFactory() : this(postgres: true)
    {
    }

    public int Port { get; }

    public Uri Issuer { get; }

    /// <summary>The operators' port (Server:ManagementUrls): the only place /metrics answers.</summary>
    public int ManagementPort { get; }

    public string ConnectionString { get; private set; } = string.Empty;

    public string KeysPath => Path.Combine(_folder, "keys");

    /// <summary>
    /// Lets a test class lay down key files before the server starts. By default a Development server gets a copy
    /// of the keys Development would make on an empty folder; any other environment gets no keys.
    /// </summary>
    protected virtual void PrepareKeys(string keysPath)
    {
        if (EnvironmentName == "Development")
        {
            DevelopmentKeys.CopyTo(keysPath);
        }
    }

    /// <summary>Extra settings a test class needs on top of the defaults.</summary>
    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>();

    protected virtual string EnvironmentName => "Development";

    public static string PostgresServer => TestDatabase.PostgresServer;

    /// <summary>Set to run against another node's database instead of a fresh one.</summary>
    protected virtual string? SharedConnectionString => null;

    /// <summary>Lets a test class replace services (such as the clock) after the app registered its own.</summary>
    protected virtual void ConfigureTestServices(IServiceCollection services)
    {
    }

    public async Task InitializeAsync()
    {
        if (SharedConnectionString is { } shared)
        {
            ConnectionString = shared;
        }
        else if (_postgres)
        {
            _database = await TestDatabase.CreateMigratedAsync("oauth");
            ConnectionString = _database.ConnectionString;
        }
        else
        {
            ConnectionString = $"Data Source={Path.Combine(_folder, "oauth.db")}";
        }

        PrepareKeys(KeysPath);
        UseKestrel(kestrel =>
        {
            kestrel.ListenLocalhost(Port);
            kestrel.ListenLocalhost(ManagementPort);
        });
        StartServer();
    }

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    /// <summary>Stops the server, drops its database (if it created one) and deletes its folder.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (_released)
        {
            return;
        }

        _released = true;
        await base.DisposeAsync();
        GC.SuppressFinalize(this);
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        Directory.Delete(_folder, recursive: true);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(EnvironmentName);
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = _postgres ? "Postgres" : "Sqlite",
            ["ConnectionStrings:OAuthServer"] = ConnectionString,
            ["Server:Issuer"] = Issuer.ToString(),
            ["Server:RequireHttps"] = "false",
            ["Keys:Path"] = KeysPath,
            ["Server:ManagementUrls:0"] = $"http://127.0.0.1:{ManagementPort}",
            ["Logging:LogLevel:Default"] = "Warning",
            // Test classes share the CPU: a login must not be refused as "auth busy" just because the suite is busy,
            // not even one of twenty parallel guesses in a lockout race. The limiter's own tests set a short timeout.
            ["Argon2:AcquireTimeout"] = "00:01:00",
            // Every test signs in from 127.0.0.1; the rate-limit tests turn the limits on for servers of their own.
            ["RateLimiting:Enabled"] = "false",
        };
        foreach (var (key, value) in Settings)
        {
            settings[key] = value;
        }

        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureTestServices(ConfigureTestServices);
    }

    /// <summary>A client that behaves like a browser: keeps cookies, but lets the test see every redirect.</summary>
    public HttpClient CreateBrowser() => new(new HttpClientHandler
    {
        AllowAutoRedirect = false,
        UseCookies = true,
        CookieContainer = new CookieContainer(),
    })
    {
        BaseAddress = Issuer,
    };

    /// <summary>A plain HTTP client for back-channel calls (token, discovery, JWKS).</summary>
    public HttpClient CreateApiClient() => new(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = Issuer };

    /// <summary>A client of the management URL, for /metrics.</summary>
    public HttpClient CreateManagementClient() => new(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{ManagementPort}/") };

    public async Task<T> WithScopeAsync<T>(Func<IServiceProvider, Task<T>> action)
    {
        await using var scope = Services.CreateAsyncScope();
        return await action(scope.ServiceProvider);
    }

    /// <summary>Registers a client through the same registry the CLI and admin API use.</summary>
    internal async Task<string> RegisterClientAsync(ClientRegistration registration)
    {
        var outcome = await WithScopeAsync(services => services.GetRequiredService<ClientRegistry>().RegisterAsync(registration));
        outcome.Problems.Should().BeEmpty();
        return registration.ClientId;
    }

}

/// <summary>
/// A server started inside one test, with its own settings; optionally a second node on another server's
/// database, or with a replaced service. Dispose it with <c>await using</c>.
/// </summary>
public sealed class CustomServer : OAuthServerFactory
{
    private readonly Dictionary<string, string?> _settings;
    private readonly string? _sharedConnectionString;
    private readonly Action<IServiceCollection>? _services;
    private readonly string _environmentName;

    private CustomServer(Dictionary<string, string?> settings, string? sharedConnectionString, Action<IServiceCollection>? services, string environmentName)
    {
        _settings = settings;
        _sharedConnectionString = sharedConnectionString;
        _services = services;
        _environmentName = environmentName;
    }

    protected override IDictionary<string, string?> Settings => _settings;

    protected override string? SharedConnectionString => _sharedConnectionString;

    protected override string EnvironmentName => _environmentName;

    public static async Task<CustomServer> StartAsync(
        Dictionary<string, string?>? settings = null, string? sharedConnectionString = null, Action<IServiceCollection>? services = null,
        string environmentName = "Development")
    {
        var server = new CustomServer(settings ?? [], sharedConnectionString, services, environmentName);
        await server.InitializeAsync();
        return server;
    }

    protected override void ConfigureTestServices(IServiceCollection services) => _services?.Invoke(services);
}

/// <summary>The same server on the embedded SQLite store.</summary>
public sealed class SqliteOAuthServerFactory() : OAuthServerFactory(postgres: false);

[CollectionDefinition(Name)]
public sealed class SharedPostgresServer : ICollectionFixture<OAuthServerFactory>
{
    public const string Name = "postgres";
}
