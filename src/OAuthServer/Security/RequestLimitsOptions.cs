using Microsoft.Extensions.Options;

namespace OAuthServer.Security;

/// <summary>
/// The <c>RequestLimits</c> section: how much a single request may cost the server before it is refused.
/// Every OAuth request is small (a form of a few parameters, a JWT or two), so the defaults are far below
/// Kestrel's own (30 MB bodies, 1024 form values of 4 MB each), which would let one client make the server
/// buffer and parse megabytes per request. Threat model "resource exhaustion".
/// </summary>
internal sealed class RequestLimitsOptions
{
    public const string Section = "RequestLimits";

    /// <summary>Largest request body, in bytes; above it the answer is 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Largest total size of the request headers, in bytes; above it Kestrel answers 431.</summary>
    public int MaxRequestHeadersTotalBytes { get; set; } = 32 * 1024;

    /// <summary>Most request headers; above it Kestrel answers 431.</summary>
    public int MaxRequestHeaderCount { get; set; } = 64;

    /// <summary>Longest request line (method, path and query), in bytes; above it Kestrel answers 414.</summary>
    public int MaxRequestLineBytes { get; set; } = 8 * 1024;

    /// <summary>Time a client has to send all its headers (slowloris); then the connection is closed.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long an idle keep-alive connection stays open.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Slowest accepted request body upload, after the grace period (slow POST); slower gets 408.</summary>
    public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    /// <summary>Slowest accepted response download, after the grace period (slow read).</summary>
    public double MinResponseBytesPerSecond { get; set; } = 240;

    /// <summary>The grace period of both data rates.</summary>
    public TimeSpan MinDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Open connections per node; null is unlimited (leave it to the load balancer).</summary>
    public long? MaxConcurrentConnections { get; set; }

    /// <summary>Most form fields in one request (a token request has fewer than 10); above it the answer is 400.</summary>
    public int MaxFormValueCount { get; set; } = 64;

    /// <summary>Longest form field name, in bytes.</summary>
    public int MaxFormKeyLength { get; set; } = 256;

    /// <summary>Longest form field value, in bytes (room for a client assertion or an id_token_hint).</summary>
    public int MaxFormValueLength { get; set; } = 16 * 1024;
}

internal sealed class RequestLimitsOptionsValidator : IValidateOptions<RequestLimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, RequestLimitsOptions options)
    {
        var failures = new List<string>();
        void Positive(string key, double value)
        {
            if (value <= 0)
            {
                failures.Add($"RequestLimits:{key} must be positive.");
            }
        }

        Positive(nameof(options.MaxRequestBodyBytes), options.MaxRequestBodyBytes);
        Positive(nameof(options.MaxRequestHeadersTotalBytes), options.MaxRequestHeadersTotalBytes);
        Positive(nameof(options.MaxRequestHeaderCount), options.MaxRequestHeaderCount);
        Positive(nameof(options.MaxRequestLineBytes), options.MaxRequestLineBytes);
        Positive(nameof(options.RequestHeadersTimeout), options.RequestHeadersTimeout.TotalSeconds);
        Positive(nameof(options.KeepAliveTimeout), options.KeepAliveTimeout.TotalSeconds);
        Positive(nameof(options.MinRequestBodyBytesPerSecond), options.MinRequestBodyBytesPerSecond);
        Positive(nameof(options.MinResponseBytesPerSecond), options.MinResponseBytesPerSecond);
        Positive(nameof(options.MaxFormValueCount), options.MaxFormValueCount);
        Positive(nameof(options.MaxFormKeyLength), options.MaxFormKeyLength);
        Positive(nameof(options.MaxFormValueLength), options.MaxFormValueLength);
        // Note: Kestrel checks data rates once a second (its heartbeat) and needs a longer grace period.
        if (options.MinDataRateGracePeriod <= TimeSpan.FromSeconds(1))
        {
            failures.Add("RequestLimits:MinDataRateGracePeriod must be more than 1 second.");
        }

        if (options.MaxConcurrentConnections is <= 0)
        {
            failures.Add("RequestLimits:MaxConcurrentConnections must be positive, or left unset for no limit.");
        }

        if (options.MaxFormValueLength > options.MaxRequestBodyBytes)
        {
            failures.Add("RequestLimits:MaxFormValueLength can't exceed MaxRequestBodyBytes.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
