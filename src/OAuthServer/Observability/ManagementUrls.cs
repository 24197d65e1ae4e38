using OAuthServer.Protocol;

namespace OAuthServer.Observability;

/// <summary>
/// <c>Server:ManagementUrls</c>: extra URLs the server listens on for operators, kept off the public load
/// balancer. <c>/metrics</c> answers on them and nowhere else, and they answer nothing but <c>/metrics</c> and
/// <c>/health/*</c> (the probes also stay on the public URLs, where load balancers look). Without a management URL
/// there is no <c>/metrics</c> at all, in every environment: the scrape shows login, lockout and replay counts per
/// client to whoever asks, so it is never on the public surface by default.
/// </summary>
internal static partial class ManagementUrls
{
    private const string Key = ServerOptions.Section + ":" + nameof(ServerOptions.ManagementUrls);

    /// <summary>Adds the management URLs to the URLs the host listens on, after checking they stand apart.</summary>
    public static IHostApplicationBuilder AddOAuthManagementUrls(this IHostApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var management = Read(configuration);
        if (management.Count == 0)
        {
            return builder;
        }

        if (configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            // Note: Kestrel ignores the host's URL list once endpoints are configured, so ours would be dropped.
            throw new InvalidOperationException($"{Key} can't be combined with Kestrel:Endpoints: list every endpoint in one of the two.");
        }

        var publicUrls = PublicUrls(configuration);
        var publicPorts = publicUrls.Select(url => Parse(url, "the server's URLs (ASPNETCORE_URLS)").Port).ToHashSet();
        foreach (var url in management)
        {
            var port = Parse(url, Key).Port;
            // Note: a request is told apart by the local port it arrived on (never by its Host header, which the
            // client writes), so a management port must be a port of its own.
            if (port == 0 || publicPorts.Contains(port))
            {
                throw new InvalidOperationException($"{Key} has '{url}': a management URL needs an explicit port that no public URL uses.");
            }
        }

        // Note: appended to the host's own URL list rather than given to Kestrel's Listen(), which would make
        // Kestrel ignore ASPNETCORE_URLS and ASPNETCORE_HTTP_PORTS.
        configuration[WebHostDefaults.ServerUrlsKey] = string.Join(';', publicUrls.Concat(management));
        return builder;
    }

    /// <summary>
    /// Keeps the two kinds of URL apart: <c>/metrics</c> is 404 on a public URL, and anything but <c>/metrics</c>
    /// and <c>/health/*</c> is 404 on a management URL. Does nothing when no management URL is set.
    /// </summary>
    public static void UseManagementUrls(this WebApplication app)
    {
        var ports = Read(app.Configuration).Select(url => Parse(url, Key).Port).ToHashSet();
        if (ports.Count == 0)
        {
            LogMetricsOff(app.Logger, Key);
            return;
        }

        app.Use((context, next) =>
        {
            var onManagementUrl = ports.Contains(context.Connection.LocalPort);
            var path = context.Request.Path;
            var allowed = path.StartsWithSegments(ProtocolPaths.Metrics)
                ? onManagementUrl
                : !onManagementUrl || path.StartsWithSegments(ProtocolPaths.Health);
            if (allowed)
            {
                return next(context);
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
    }

    /// <summary>Whether <c>/metrics</c> is served at all: only on a management URL.</summary>
    public static bool Configured(IConfiguration configuration) => Read(configuration).Count > 0;

    [LoggerMessage(Level = LogLevel.Information, Message = "/metrics is not served: no {Setting} is set. Set one (for example http://0.0.0.0:9464, a port of its own that the public load balancer does not reach) to serve /metrics there")]
    private static partial void LogMetricsOff(ILogger logger, string setting);

    private static List<string> Read(IConfiguration configuration) =>
        (configuration.GetSection(Key).Get<List<string>>() ?? []).Where(url => !string.IsNullOrWhiteSpace(url)).Select(url => url.Trim()).ToList();

    // What the host would listen on without us: ASPNETCORE_URLS, else ASPNETCORE_HTTP(S)_PORTS, else Kestrel's default.
    private static List<string> PublicUrls(IConfiguration configuration)
    {
        static IEnumerable<string> Split(string? list) =>
            (list ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        var urls = Split(configuration[WebHostDefaults.ServerUrlsKey]).ToList();
        if (urls.Count > 0)
        {
            return urls;
        }

        urls = Split(configuration[WebHostDefaults.HttpPortsKey]).Select(port => $"http://*:{port}")
            .Concat(Split(configuration[WebHostDefaults.HttpsPortsKey]).Select(port => $"https://*:{port}")).ToList();
        return urls.Count > 0 ? urls : ["http://localhost:5000"];
    }

    private static BindingAddress Parse(string url, string setting)
    {
        try
        {
            return BindingAddress.Parse(url);
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{setting} has '{url}', which is not a URL such as http://+:9464.");
        }
    }
}
