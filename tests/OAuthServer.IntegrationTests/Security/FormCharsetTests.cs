using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Security;

/// <summary>
/// RFC 6749 appendix B: OAuth forms are UTF-8. A form in another charset (UTF-7, which .NET refuses to decode,
/// UTF-16, a made-up one) or with two charsets is refused with a clear 400 on every form endpoint, and nothing
/// is logged at Error level: a client's bad request is not a server fault.
/// </summary>
public sealed class FormCharsetTests : IAsyncLifetime, IDisposable
{
    private static readonly string[] FormEndpoints =
    [
        "/connect/token", "/connect/par", "/connect/introspect", "/connect/revoke", "/connect/authorize", "/connect/endsession",
        "/connect/userinfo", "/connect/register", "/account/login", "/account/logout", "/account/consent",
    ];

    private static readonly string[] BadContentTypes =
    [
        "application/x-www-form-urlencoded; charset=utf-7",
        "application/x-www-form-urlencoded; charset=UTF-7",
        "application/x-www-form-urlencoded; charset=\"utf-7\"",
        "application/x-www-form-urlencoded; charset=utf-16",
        "application/x-www-form-urlencoded; charset=utf-32",
        "application/x-www-form-urlencoded; charset=x-no-such-charset",
        "application/x-www-form-urlencoded; charset=utf-8; charset=utf-7",
        "application/x-www-form-urlencoded; charset=utf-8; charset=utf-8",
        "application/x-www-form-urlencoded;charset=utf-7;foo=bar",
        "multipart/form-data; boundary=b; charset=utf-7",
    ];

    private readonly CapturingLoggerProvider _logs = new();
    private CustomServer _server = null!;

    public async Task InitializeAsync() => _server = await CustomServer.StartAsync(
        new() { ["Admin:DynamicRegistrationEnabled"] = "true" },
        services: services => services.AddSingleton<ILoggerProvider>(_logs));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose() => _logs.Dispose();

    [Fact]
    public async Task A_form_in_another_charset_than_UTF8_is_a_clear_400_everywhere_and_never_an_error_log()
    {
        using var api = _server.CreateApiClient();
        _logs.Entries.Clear(); // start-up's own lines (the first migration probes an empty database) are not in question
        var failures = new List<string>();
        foreach (var path in FormEndpoints)
        {
            foreach (var contentType in BadContentTypes)
            {
                var body = contentType.StartsWith("multipart", StringComparison.Ordinal)
                    ? "--b\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--b--\r\n"
                    : "grant_type=client_credentials&client_id=demo-spa";
                failures.AddRange(await CheckAsync(api, path, contentType, Encoding.UTF8.GetBytes(body)));
            }

            // Note: the charset of a multipart section, not of the request, names UTF-7.
            var section = "--b\r\nContent-Disposition: form-data; name=\"grant_type\"\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n+AGEAYgBj-\r\n--b--\r\n";
            failures.AddRange(await CheckAsync(api, path, "multipart/form-data; boundary=b", Encoding.ASCII.GetBytes(section)));
        }

        failures.Should().BeEmpty();
        _logs.Entries.Where(entry => entry.Level >= LogLevel.Error).Should().BeEmpty("a client's bad charset is not a server error");
    }

    [Theory]
    [InlineData("application/x-www-form-urlencoded; charset=utf-8")]
    [InlineData("application/x-www-form-urlencoded; charset=UTF-8")]
    [InlineData("application/x-www-form-urlencoded; charset=\"utf-8\"")]
    [InlineData("application/x-www-form-urlencoded; charset=us-ascii")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task A_UTF8_form_reaches_the_endpoint(string contentType)
    {
        using var api = _server.CreateApiClient();
        using var content = new ByteArrayContent("grant_type=password&client_id=demo-spa"u8.ToArray());
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        using var response = await api.PostAsync("/connect/token", content);

        // OpenIddict itself read the form: it names the grant type it refuses.
        await response.ShouldFailWithAsync("unsupported_grant_type");
    }

    private static async Task<IEnumerable<string>> CheckAsync(HttpClient api, string path, string contentType, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        request.Headers.Accept.ParseAdd("application/json");
        using var response = await api.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var label = $"POST {path} [{contentType}] -> {(int)response.StatusCode} {text}";
        if (response.StatusCode != HttpStatusCode.BadRequest)
        {
            return [label];
        }

        using var json = JsonDocument.Parse(text);
        var ok = path.StartsWith("/connect/", StringComparison.Ordinal)
            ? json.RootElement.GetProperty("error").GetString() == "invalid_request"
                && json.RootElement.GetProperty("error_description").GetString()!.Contains("UTF-8", StringComparison.Ordinal)
            : json.RootElement.GetProperty("title").GetString()!.Contains("UTF-8", StringComparison.Ordinal);
        return ok ? [] : [label];
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                provider.Entries.Enqueue((logLevel, category, formatter(state, exception) + (exception is null ? string.Empty : " " + exception.GetType().Name)));
        }
    }
}
