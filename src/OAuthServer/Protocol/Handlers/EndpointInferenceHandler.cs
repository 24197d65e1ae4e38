using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// OpenIddict's endpoint inference (<see cref="OpenIddictServerHandlers.InferEndpointType"/>), deciding exactly as it
/// does, with the absolute endpoint URIs of each base URI worked out once instead of on every request.
/// </summary>
/// <remarks>
/// Note: for each of a request's ~11 endpoint lists OpenIddict resolves every relative endpoint path against the
/// request's base URI (a new <see cref="Uri"/>, sometimes two) and checks that it stays under that base, before it
/// compares it with the request URI: ~2.7 % of a client_credentials request's non-RSA CPU (issue 15). Those steps
/// depend only on the options and the base URI, so their results are kept per base URI; the comparison with the
/// request URI (scheme, host and port exactly, the path case-insensitively and up to one trailing slash) runs on
/// every request, in OpenIddict's order of endpoints. At most <see cref="MaxBases"/> base URIs are kept per options
/// instance: the host comes from the request, and a client inventing hosts gets the same answer computed afresh.
/// <c>Protocol/EndpointInferenceTests</c> runs both handlers over the same requests and compares their answers.
/// </remarks>
internal sealed partial class EndpointInferenceHandler : IOpenIddictServerHandler<ProcessRequestContext>
{
    public const int MaxBases = 32;

    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessRequestContext>()
            .UseSingletonHandler<EndpointInferenceHandler>()
            .SetOrder(OpenIddictServerHandlers.InferEndpointType.Descriptor.Order)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    private readonly ConditionalWeakTable<OpenIddictServerOptions, ConcurrentDictionary<string, EndpointUris[]>> _byOptions = [];

    public ValueTask HandleAsync(ProcessRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context is not { BaseUri.IsAbsoluteUri: true, RequestUri.IsAbsoluteUri: true })
        {
            return default;
        }

        var request = context.RequestUri;
        context.EndpointType = OpenIddictServerEndpointType.Unknown;
        foreach (var endpoint in For(context.Options, context.BaseUri))
        {
            foreach (var candidate in endpoint.Uris)
            {
                if (SameEndpoint(candidate, request))
                {
                    context.EndpointType = endpoint.Type;
                    LogMatched(context.Logger, endpoint.Type);
                    return default;
                }
            }
        }

        return default;
    }

    private EndpointUris[] For(OpenIddictServerOptions options, Uri baseUri)
    {
        var bases = _byOptions.GetValue(options, _ => new ConcurrentDictionary<string, EndpointUris[]>(StringComparer.Ordinal));
        if (bases.TryGetValue(baseUri.AbsoluteUri, out var known))
        {
            return known;
        }

        var resolved = Resolve(options, baseUri);
        if (bases.Count < MaxBases)
        {
            bases.TryAdd(baseUri.AbsoluteUri, resolved);
        }

        return resolved;
    }

    /// <summary>Each endpoint's URIs as absolute URIs under <paramref name="baseUri"/>, in OpenIddict's order of endpoints.</summary>
    internal static EndpointUris[] Resolve(OpenIddictServerOptions options, Uri baseUri) =>
    [
        new(OpenIddictServerEndpointType.Authorization, Absolute(options.AuthorizationEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.Configuration, Absolute(options.ConfigurationEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.DeviceAuthorization, Absolute(options.DeviceAuthorizationEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.EndSession, Absolute(options.EndSessionEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.EndUserVerification, Absolute(options.EndUserVerificationEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.Introspection, Absolute(options.IntrospectionEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.JsonWebKeySet, Absolute(options.JsonWebKeySetEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.PushedAuthorization, Absolute(options.PushedAuthorizationEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.Revocation, Absolute(options.RevocationEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.Token, Absolute(options.TokenEndpointUris, baseUri)),
        new(OpenIddictServerEndpointType.UserInfo, Absolute(options.UserInfoEndpointUris, baseUri)),
    ];

    // An absolute endpoint URI is compared as configured; a relative one is resolved under the base URI (a base whose
    // path lacks its trailing slash gets one first, so the endpoint path is appended rather than replacing the base's
    // last segment) and kept only when the result is still under the base and is not a file path taken for a URI.
    private static Uri[] Absolute(IEnumerable<Uri> configured, Uri baseUri)
    {
        var directory = baseUri.AbsolutePath.EndsWith('/') ? baseUri : new UriBuilder(baseUri) { Path = baseUri.AbsolutePath + "/" }.Uri;
        return [.. configured
            .Select(uri => uri.IsAbsoluteUri ? (Uri: uri, Keep: true) : (Uri: new Uri(directory, uri), Keep: false))
            .Where(pair => pair.Keep || (!IsBareFilePath(pair.Uri) && directory.IsBaseOf(pair.Uri)))
            .Select(pair => pair.Uri)];
    }

    private static bool IsBareFilePath(Uri uri) =>
        uri.IsAbsoluteUri && uri.IsFile && !uri.OriginalString.StartsWith(uri.Scheme, StringComparison.OrdinalIgnoreCase);

    private static bool SameEndpoint(Uri endpoint, Uri request)
    {
        if (!string.Equals(endpoint.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(endpoint.Host, request.Host, StringComparison.OrdinalIgnoreCase)
            || endpoint.Port != request.Port)
        {
            return false;
        }

        var (left, right) = (endpoint.AbsolutePath, request.AbsolutePath);
        return string.Equals(left, right, StringComparison.OrdinalIgnoreCase)
            || OneTrailingSlashMore(left, right)
            || OneTrailingSlashMore(right, left);
    }

    private static bool OneTrailingSlashMore(string longer, string shorter) =>
        longer.Length == shorter.Length + 1 && longer[^1] == '/' && longer.StartsWith(shorter, StringComparison.OrdinalIgnoreCase);

    [LoggerMessage(Level = LogLevel.Information, Message = "The request is for the {Endpoint} endpoint.")]
    private static partial void LogMatched(ILogger logger, OpenIddictServerEndpointType endpoint);

    internal sealed record EndpointUris(OpenIddictServerEndpointType Type, Uri[] Uris);
}
