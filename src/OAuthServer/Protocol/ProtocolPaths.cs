namespace OAuthServer.Protocol;

/// <summary>What the rate limiter and the error writers need to know about one endpoint.</summary>
[Flags]
internal enum EndpointTraits
{
    None = 0,

    /// <summary>An OAuth/OIDC endpoint: errors are OAuth JSON, not pages.</summary>
    Protocol = 1,

    /// <summary>Called server to server (token, PAR, introspection, revocation).</summary>
    BackChannel = 2,

    /// <summary>Visited by the user's browser.</summary>
    BrowserFacing = 4,

    /// <summary>Authenticates the calling client (client_secret_basic/post, client assertions).</summary>
    ClientAuthenticating = 8,

    /// <summary>The authorization endpoint: refusals are <c>temporarily_unavailable</c> (RFC 6749 §4.1.2.1).</summary>
    Authorization = 16,

    /// <summary>The sign-in forms (the password, then the second factor): their posts spend the per-address sign-in budget.</summary>
    Login = 32,

    /// <summary>A public document (discovery, JWKS): any origin may read it, and its answers are cached.</summary>
    PublicDocument = 64,

    /// <summary>Called by single-page apps from their own origin: CORS for the registered SPA origins.</summary>
    SinglePageApps = 128,

    /// <summary>Takes a user code typed by a person (RFC 8628 §3.3): wrong codes spend the sender's guess budget.</summary>
    UserCodeEntry = 256,

    /// <summary>The signed-in person's own account page: its posts spend the sender's account-page budget.</summary>
    SelfService = 512,
}

/// <summary>One endpoint of the table: its canonical path and its traits.</summary>
internal sealed record ProtocolEndpoint(string Path, EndpointTraits Traits)
{
    public bool Has(EndpointTraits traits) => (Traits & traits) == traits;
}

/// <summary>
/// The one table of the endpoints our middleware treats specially (the abuse controls, the error writers, CORS,
/// the response cache), and the classifier that finds a request's endpoint whatever the spelling of its path.
/// </summary>
/// <remarks>
/// Note: the classifier must resolve at least every path that OpenIddict or ASP.NET Core routing resolves to an
/// endpoint, or a limit is skipped by respelling the path. OpenIddict (InferEndpointType) compares the absolute
/// path ignoring case and one trailing slash; routing ignores case and a trailing slash too; Kestrel has already
/// decoded percent-escapes (except <c>%2F</c>) and removed dot segments. The classifier is deliberately looser
/// than all of them: it ignores case, every empty segment (repeated, leading and trailing slashes), and also
/// treats <c>%2F</c> and <c>\</c> as separators. A spelling it resolves that nothing serves is a 404 that spent a
/// permit of the sender's own budget, which is harmless; the reverse would be a bypass.
/// </remarks>
internal static class ProtocolPaths
{
    public const string Authorize = "/connect/authorize";
    public const string Token = "/connect/token";
    public const string PushedAuthorization = "/connect/par";
    public const string Introspection = "/connect/introspect";
    public const string Revocation = "/connect/revoke";
    public const string UserInfo = "/connect/userinfo";
    public const string EndSession = "/connect/endsession";
    public const string Register = "/connect/register";
    public const string DeviceAuthorization = "/connect/device";
    public const string Verification = "/connect/verify";
    public const string Jwks = "/.well-known/jwks.json";
    public const string OpenIdConfiguration = "/.well-known/openid-configuration";
    public const string AuthorizationServerMetadata = "/.well-known/oauth-authorization-server";
    public const string WellKnown = "/.well-known";
    public const string Login = "/account/login";
    public const string Logout = "/account/logout";
    public const string Consent = "/account/consent";

    /// <summary>The second step of a sign-in (a one-time code, a recovery code or a passkey), and step-up of a session.</summary>
    public const string SecondFactor = "/account/login/second-factor";

    /// <summary>The signed-in person's own page (password, apps with access, sessions, recent events).</summary>
    public const string Account = "/account";
    public const string AccountPassword = "/account/password";
    public const string AccountRevokeApp = "/account/apps/revoke";
    public const string AccountEndSession = "/account/sessions/end";
    public const string AccountEndAllSessions = "/account/sessions/end-all";
    public const string AccountTotpSetup = "/account/totp/setup";
    public const string AccountTotpConfirm = "/account/totp/confirm";
    public const string AccountTotpRemove = "/account/totp/remove";
    public const string AccountRecoveryCodes = "/account/recovery-codes";
    public const string ForgotPassword = "/account/forgot-password";
    public const string ResetPassword = "/account/reset-password";
    public const string Admin = "/admin";
    public const string Health = "/health";
    public const string HealthLive = "/health/live";
    public const string HealthReady = "/health/ready";
    public const string Metrics = "/metrics";

    private const EndpointTraits ClientBackChannel = EndpointTraits.Protocol | EndpointTraits.BackChannel | EndpointTraits.ClientAuthenticating;

    public static IReadOnlyList<ProtocolEndpoint> All { get; } =
    [
        new(Authorize, EndpointTraits.Protocol | EndpointTraits.BrowserFacing | EndpointTraits.Authorization),
        new(Token, ClientBackChannel | EndpointTraits.SinglePageApps),
        new(PushedAuthorization, ClientBackChannel),
        new(Introspection, ClientBackChannel),
        new(Revocation, ClientBackChannel | EndpointTraits.SinglePageApps),
        new(UserInfo, EndpointTraits.Protocol | EndpointTraits.SinglePageApps),
        new(EndSession, EndpointTraits.Protocol | EndpointTraits.BrowserFacing),
        new(Login, EndpointTraits.BrowserFacing | EndpointTraits.Login),
        // Note: a code is a guess like a password: its posts spend the sign-in's per-address budget.
        new(SecondFactor, EndpointTraits.BrowserFacing | EndpointTraits.Login),
        // Note: the password-reset pages apply their own budgets (per address and per sender) in their handlers,
        // which routing reaches under every spelling it resolves; listed so every writer treats them as pages.
        new(ForgotPassword, EndpointTraits.BrowserFacing),
        new(ResetPassword, EndpointTraits.BrowserFacing),
        // Note: RFC 8628 §3.1: the device endpoint authenticates clients like the token endpoint. The verification
        // page is read by a person: no Protocol trait, so its refusals are pages, not OAuth JSON.
        new(DeviceAuthorization, ClientBackChannel),
        new(Verification, EndpointTraits.BrowserFacing | EndpointTraits.UserCodeEntry),
        new(Jwks, EndpointTraits.PublicDocument),
        new(OpenIdConfiguration, EndpointTraits.PublicDocument),
        new(AuthorizationServerMetadata, EndpointTraits.PublicDocument),
        // Note: the consent and sign-out posts act for a signed-in person, like the account page's: one budget.
        new(Consent, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(Logout, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(Account, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(AccountPassword, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(AccountRevokeApp, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(AccountEndSession, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(AccountEndAllSessions, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(AccountTotpSetup, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(AccountTotpConfirm, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(AccountTotpRemove, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
        new(AccountRecoveryCodes, EndpointTraits.BrowserFacing | EndpointTraits.SelfService),
    ];

    /// <summary>
    /// Any other path under <c>/connect</c> (<see cref="Register"/>, or one nothing serves): in none of the limits
    /// of the table, but answered like an OAuth endpoint (errors as OAuth JSON).
    /// </summary>
    public static ProtocolEndpoint OtherProtocolPath { get; } = new("/connect", EndpointTraits.Protocol);

    private static readonly Dictionary<string, ProtocolEndpoint> ByCanonicalPath =
        All.ToDictionary(endpoint => endpoint.Path, StringComparer.OrdinalIgnoreCase);

    /// <summary>A route as OpenIddict takes it: relative to the issuer.</summary>
    public static string RelativeToIssuer(string path) => path.TrimStart('/');

    /// <summary>The endpoint <paramref name="path"/> names, or null when it names none of the table.</summary>
    public static ProtocolEndpoint? Classify(PathString path) =>
        path.HasValue && ByCanonicalPath.TryGetValue(Canonical(path.Value!), out var endpoint) ? endpoint : null;

    /// <summary>
    /// The endpoint of the request: <see cref="Classify"/>, else <see cref="OtherProtocolPath"/> under
    /// <c>/connect</c>, else null. Classified once per request, by whichever middleware asks first, and kept in
    /// the request's features for every later one (the CORS policy, the response cache, the input checks, the
    /// limiter, the error writers), so they can't disagree about what a spelling names.
    /// </summary>
    public static ProtocolEndpoint? EndpointOf(HttpContext context)
    {
        var path = context.Request.Path;
        // Note: kept with the path it was computed for: should anything rewrite the path later in the pipeline,
        // the request is classified again rather than judged by the endpoint of a path it no longer has.
        if (context.Features.Get<Classified>() is { } classified && string.Equals(classified.Path, path.Value, StringComparison.Ordinal))
        {
            return classified.Endpoint;
        }

        var canonical = Canonical(path.Value ?? string.Empty);
        var endpoint = ByCanonicalPath.GetValueOrDefault(canonical) ?? (UnderConnect(canonical) ? OtherProtocolPath : null);
        context.Features.Set(new Classified(path.Value, endpoint));
        return endpoint;
    }

    /// <summary>True for any spelling under <c>/connect</c>, known endpoint or not (OAuth-style answers).</summary>
    public static bool IsProtocolPath(PathString path) => UnderConnect(Canonical(path.Value ?? string.Empty));

    private static bool UnderConnect(string canonical) =>
        canonical.Equals(OtherProtocolPath.Path, StringComparison.OrdinalIgnoreCase)
        || (canonical.StartsWith(OtherProtocolPath.Path, StringComparison.OrdinalIgnoreCase) && canonical[OtherProtocolPath.Path.Length] == '/');

    // "/connect//token/" and "/Connect%2ftoken" both become "/Connect/token"; case is left to the comparer.
    internal static string Canonical(string path)
    {
        var segments = path.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase).Replace('\\', '/')
            .Split('/', StringSplitOptions.RemoveEmptyEntries);
        return "/" + string.Join('/', segments);
    }

    private sealed record Classified(string? Path, ProtocolEndpoint? Endpoint);
}
