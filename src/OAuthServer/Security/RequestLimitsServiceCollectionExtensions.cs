using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace OAuthServer.Security;

internal static class RequestLimitsServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthRequestLimits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RequestLimitsOptions>().BindConfiguration(RequestLimitsOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RequestLimitsOptions>, RequestLimitsOptionsValidator>();

        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<RequestLimitsOptions>>((kestrel, limits) =>
        {
            var options = limits.Value;
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = options.MaxRequestHeadersTotalBytes;
            kestrel.Limits.MaxRequestHeaderCount = options.MaxRequestHeaderCount;
            kestrel.Limits.MaxRequestLineSize = options.MaxRequestLineBytes;
            kestrel.Limits.RequestHeadersTimeout = options.RequestHeadersTimeout;
            kestrel.Limits.KeepAliveTimeout = options.KeepAliveTimeout;
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(options.MinRequestBodyBytesPerSecond, options.MinDataRateGracePeriod);
            kestrel.Limits.MinResponseDataRate = new MinDataRate(options.MinResponseBytesPerSecond, options.MinDataRateGracePeriod);
            kestrel.Limits.MaxConcurrentConnections = options.MaxConcurrentConnections;
        });

        // Note: every HttpContext gets these form limits (OpenIddict's request extraction and the account pages'
        // form binding alike), so a form is refused before it is buffered in full.
        builder.Services.AddOptions<FormOptions>().Configure<IOptions<RequestLimitsOptions>>((form, limits) =>
        {
            var options = limits.Value;
            form.ValueCountLimit = options.MaxFormValueCount;
            form.KeyLengthLimit = options.MaxFormKeyLength;
            form.ValueLengthLimit = options.MaxFormValueLength;
            form.BufferBodyLengthLimit = options.MaxRequestBodyBytes;
            form.MultipartBodyLengthLimit = options.MaxRequestBodyBytes;
        });

        return builder;
    }
}
