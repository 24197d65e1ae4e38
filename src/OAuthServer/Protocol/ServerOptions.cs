using Microsoft.Extensions.Options;

namespace OAuthServer.Protocol;

/// <summary>The <c>Server</c> section.</summary>
internal sealed class ServerOptions
{
    public const string Section = "Server";

    /// <summary>The public base URL of the server, the <c>iss</c> of every token. Required outside Development.</summary>
    public Uri? Issuer { get; set; }

    /// <summary>Refuse plain-HTTP protocol requests. Only Development may turn it off.</summary>
    public bool RequireHttps { get; set; } = true;

    /// <summary>Reverse proxies whose <c>X-Forwarded-*</c> headers are trusted. Nobody else's are.</summary>
    public List<string> KnownProxies { get; set; } = [];

    /// <summary>
    /// Extra URLs the server listens on for operators only (e.g. <c>http://+:9464</c>), kept off the public load
    /// balancer. When set, <c>/metrics</c> is served on them and nowhere else, and they serve nothing but
    /// <c>/metrics</c> and <c>/health/*</c> (<see cref="Observability.ManagementUrls"/>).
    /// </summary>
    public List<string> ManagementUrls { get; set; } = [];

    /// <summary>
    /// On SIGTERM, how long requests in flight may take to finish (and the event relay to flush) before the
    /// process exits anyway. Keep it below the orchestrator's grace period (Kubernetes: 30 s).
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(25);
}

/// <summary>Checks the rules that span fields and environments, so a bad deployment stops at start-up.</summary>
internal sealed class ServerOptionsValidator(IHostEnvironment environment) : IValidateOptions<ServerOptions>
{
    public ValidateOptionsResult Validate(string? name, ServerOptions options)
    {
        var failures = new List<string>();
        if (options.Issuer is { } issuer && (!issuer.IsAbsoluteUri || !string.IsNullOrEmpty(issuer.Query) || !string.IsNullOrEmpty(issuer.Fragment)))
        {
            failures.Add("Server:Issuer must be an absolute URL without query or fragment.");
        }

        if (options.ShutdownTimeout < TimeSpan.FromSeconds(1) || options.ShutdownTimeout > TimeSpan.FromMinutes(10))
        {
            failures.Add("Server:ShutdownTimeout must be between 00:00:01 and 00:10:00.");
        }

        foreach (var proxy in options.KnownProxies)
        {
            if (!System.Net.IPAddress.TryParse(proxy, out _))
            {
                failures.Add($"Server:KnownProxies has '{proxy}', which is not an IP address.");
            }
        }

        if (!environment.IsDevelopment())
        {
            // Note: RFC 9700 §4.1 / OAuth 2.1 §1.5: outside a developer's machine every endpoint is HTTPS only.
            if (options.Issuer is null)
            {
                failures.Add("Server:Issuer is not set: give the public https:// URL of this server.");
            }
            else if (options.Issuer.Scheme != Uri.UriSchemeHttps)
            {
                failures.Add("Server:Issuer must use https outside Development.");
            }

            if (!options.RequireHttps)
            {
                failures.Add("Server:RequireHttps can only be false in Development.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
