using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;
using static OpenIddict.Server.OpenIddictServerHandlers.Authentication;

namespace OAuthServer.Protocol;

/// <summary>
/// RFC 8252 §7.3 and OAuth 2.1 §8.4.2: a native app listens on a loopback port the operating system picks at
/// run time, so for a native public client the port of a loopback IP redirect URI is not compared.
/// For such a client this handler makes the whole redirect-URI decision (exact match, or the same loopback
/// redirect with another port, else a refusal) and OpenIddict's own check is skipped; for every other client
/// OpenIddict's exact match runs unchanged.
/// </summary>
/// <remarks>
/// Only the authorize and PAR requests are relaxed. At code redemption OpenIddict compares the token request's
/// redirect_uri with the one stored in the code, which already carries the port that was used, so that
/// comparison stays exact (RFC 6749 §4.1.3): a code issued to port A can't be redeemed naming port B.
/// </remarks>
internal sealed class LoopbackRedirectUriHandler(IOpenIddictApplicationManager applications) :
    IOpenIddictServerHandler<ValidateAuthorizationRequestContext>,
    IOpenIddictServerHandler<ValidatePushedAuthorizationRequestContext>
{
    /// <summary>Set in the transaction once this handler has decided; OpenIddict's exact check is then skipped.</summary>
    private const string DecidedProperty = "oauthserver:native_redirect_uri_decided";

    public static OpenIddictServerHandlerDescriptor AuthorizeDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateAuthorizationRequestContext>()
            .UseScopedHandler<LoopbackRedirectUriHandler>()
            .SetOrder(ValidateClientRedirectUri.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public static OpenIddictServerHandlerDescriptor PushedDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidatePushedAuthorizationRequestContext>()
            .UseScopedHandler<LoopbackRedirectUriHandler>()
            .SetOrder(ValidatePushedClientRedirectUri.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    /// <summary>
    /// Puts a filter on OpenIddict's exact-match handlers so they skip requests this handler decided. They are
    /// replaced in place in the handler list: <c>RemoveEventHandler</c> removes by service type, which would also
    /// remove the filtered copy.
    /// </summary>
    public static void FilterBuiltInChecks(List<OpenIddictServerHandlerDescriptor> handlers)
    {
        ArgumentNullException.ThrowIfNull(handlers);
        Replace(handlers, ValidateClientRedirectUri.Descriptor, OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateAuthorizationRequestContext>()
            .Import(ValidateClientRedirectUri.Descriptor).AddFilter<RequireUndecided>().Build());
        Replace(handlers, ValidatePushedClientRedirectUri.Descriptor, OpenIddictServerHandlerDescriptor.CreateBuilder<ValidatePushedAuthorizationRequestContext>()
            .Import(ValidatePushedClientRedirectUri.Descriptor).AddFilter<RequireUndecided>().Build());

        static void Replace(List<OpenIddictServerHandlerDescriptor> handlers, OpenIddictServerHandlerDescriptor builtIn, OpenIddictServerHandlerDescriptor replacement)
        {
            var index = handlers.IndexOf(builtIn);
            if (index < 0)
            {
                throw new InvalidOperationException($"OpenIddict's {builtIn.ServiceDescriptor.ServiceType.Name} is not registered; the loopback redirect rule can't be applied.");
            }

            handlers[index] = replacement;
        }
    }

    public async ValueTask HandleAsync(ValidateAuthorizationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        await DecideAsync(context, context.ClientId, context.RedirectUri);
    }

    public async ValueTask HandleAsync(ValidatePushedAuthorizationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        await DecideAsync(context, context.ClientId, context.RedirectUri);
    }

    /// <summary>
    /// True when <paramref name="requested"/> is a loopback IP literal http URI equal to <paramref name="registered"/>
    /// in everything but the port: same host text, path and query, compared as raw, case-sensitive strings.
    /// </summary>
    public static bool MatchesIgnoringPort(string requested, string registered) =>
        TryParseLoopback(requested, out var requestedHost, out var requestedRest)
        && TryParseLoopback(registered, out var registeredHost, out var registeredRest)
        && string.Equals(requestedHost, registeredHost, StringComparison.Ordinal)
        && string.Equals(requestedRest, registeredRest, StringComparison.Ordinal);

    private async ValueTask DecideAsync(BaseValidatingContext context, string? clientId, string? redirectUri)
    {
        // A missing redirect_uri, or a client OpenIddict didn't find, is OpenIddict's to answer.
        if (string.IsNullOrEmpty(clientId) || string.IsNullOrEmpty(redirectUri)
            || await applications.FindByClientIdAsync(clientId, context.CancellationToken) is not { } application)
        {
            return;
        }

        // Note: RFC 8252 §8.4: only a native app is allowed a changing port, and a native app is a public client.
        // A confidential client or a web/SPA client keeps the exact match of OAuth 2.1 §2.3.1.
        if (!await applications.HasApplicationTypeAsync(application, ApplicationTypes.Native, context.CancellationToken)
            || !await applications.HasClientTypeAsync(application, ClientTypes.Public, context.CancellationToken))
        {
            return;
        }

        context.Transaction.Properties[DecidedProperty] = true;
        foreach (var registered in await applications.GetRedirectUrisAsync(application, context.CancellationToken))
        {
            if (string.Equals(registered, redirectUri, StringComparison.Ordinal) || MatchesIgnoringPort(redirectUri, registered))
            {
                return;
            }
        }

        // Note: the same answer OpenIddict gives: the server shows it and never redirects to the unverified URI.
        context.Reject(Errors.InvalidRequest, "The specified 'redirect_uri' is not valid for this client application.");
    }

    /// <summary>
    /// Splits an http URI on the IP literals 127.0.0.1 or [::1] into its host and what follows the port, from the
    /// raw text (not <see cref="Uri"/>'s normalised view, which would equate 127.000.000.001 or an escaped path).
    /// "localhost" is left to the exact match: RFC 8252 §8.3 and OAuth 2.1 §8.4.2 advise against it, because the
    /// name may resolve to something other than this machine (a hosts file, a DNS search suffix), where a listener
    /// could receive the code.
    /// </summary>
    private static bool TryParseLoopback(string value, out string host, out string pathAndQuery)
    {
        const string Scheme = "http://";
        host = pathAndQuery = string.Empty;
        if (!value.StartsWith(Scheme, StringComparison.Ordinal) || value.Contains('#', StringComparison.Ordinal)
            || !Uri.TryCreate(value, UriKind.Absolute, out _))
        {
            return false;
        }

        var pathStart = value.IndexOfAny(['/', '?'], Scheme.Length);
        var authority = pathStart < 0 ? value[Scheme.Length..] : value[Scheme.Length..pathStart];
        host = authority.StartsWith("[::1]", StringComparison.Ordinal) ? "[::1]"
            : authority.StartsWith("127.0.0.1", StringComparison.Ordinal) ? "127.0.0.1"
            : string.Empty;
        var port = authority[host.Length..];
        pathAndQuery = pathStart < 0 ? string.Empty : value[pathStart..];
        return host.Length > 0
            && (port.Length == 0 || (port.Length is > 1 and <= 6 && port[0] == ':' && port[1..].All(char.IsAsciiDigit)));
    }

    /// <summary>Lets OpenIddict's exact-match handler run only when <see cref="LoopbackRedirectUriHandler"/> did not decide.</summary>
    internal sealed class RequireUndecided :
        IOpenIddictServerHandlerFilter<ValidateAuthorizationRequestContext>,
        IOpenIddictServerHandlerFilter<ValidatePushedAuthorizationRequestContext>
    {
        public ValueTask<bool> IsActiveAsync(ValidateAuthorizationRequestContext context) => new(!Decided(context));

        public ValueTask<bool> IsActiveAsync(ValidatePushedAuthorizationRequestContext context) => new(!Decided(context));

        private static bool Decided(BaseContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return context.Transaction.Properties.TryGetValue(DecidedProperty, out var decided) && decided is true;
        }
    }
}
