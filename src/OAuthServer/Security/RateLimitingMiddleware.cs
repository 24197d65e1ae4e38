using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Options;
using OAuthServer.Html;
using OAuthServer.Protocol;

namespace OAuthServer.Security;

/// <summary>
/// Applies the budgets of threat model 1.2 to the endpoints of <see cref="ProtocolPaths"/>, whatever the spelling
/// of the path: per address on the login form and the authorization endpoint, and at the client-authenticating
/// back-channel endpoints (token, PAR, introspection, revocation) the client-auth budgets below. The address is
/// the connection's, after the forwarded-headers middleware (which believes X-Forwarded-For only from
/// Server:KnownProxies), IPv6 grouped by <see cref="RateLimitingOptions.IPv6PrefixLength"/>.
/// </summary>
/// <remarks>
/// Note: every budget that a failure spends is keyed by what the sender controls (its address, and the pair of
/// address and client_id), so a stranger can't spend it for someone else:
/// <list type="bullet">
/// <item>A request without client credentials (a public client) spends <see cref="RateLimits.TokenPerIp"/>.</item>
/// <item>A request with credentials reserves a permit of <see cref="RateLimits.TokenPerIp"/> and of
/// <see cref="RateLimits.ClientAuthFailures"/> for its address and client_id before OpenIddict checks them;
/// <see cref="ClientAuthenticatedHandler"/> gives both back the moment the client authenticates, which then
/// spends <see cref="RateLimits.TokenPerClient"/> instead. Reserving first means a burst of parallel guesses
/// can't all pass a check that sees none of them.</item>
/// <item>A failed authentication (401 invalid_client) keeps its reservations and also counts against the
/// client_id's ceiling, <see cref="RateLimits.ClientAuthFailuresPerClient"/>. While that is spent, an address
/// that has itself failed for the client_id in the window gets no further attempt; the real client, whose
/// address has not failed, is never refused by it, and neither is a public client, which sends no secret.</item>
/// </list>
/// </remarks>
internal sealed class RateLimitingMiddleware(RequestDelegate next, RateLimits limits)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (!limits.Enabled || ProtocolPaths.EndpointOf(context) is not { } endpoint)
        {
            await next(context);
            return;
        }

        var address = limits.AddressKey(context.Connection.RemoteIpAddress);
        if (endpoint.Has(EndpointTraits.ClientAuthenticating))
        {
            await ClientAuthenticatingAsync(context, address);
            return;
        }

        if (endpoint.Has(EndpointTraits.UserCodeEntry))
        {
            await UserCodeGuess.GuardAsync(context, limits, address, next);
            return;
        }

        var policy = endpoint.Has(EndpointTraits.Login) && HttpMethods.IsPost(context.Request.Method) ? RateLimits.LoginPerIp
            : endpoint.Has(EndpointTraits.Authorization) ? RateLimits.AuthorizePerIp
            : endpoint.Has(EndpointTraits.SelfService) && HttpMethods.IsPost(context.Request.Method) ? RateLimits.AccountPerIp
            : null;
        if (policy is not null && await limits.AcquireAsync(policy, address, context.RequestAborted) is { Allowed: false } refused)
        {
            await RateLimitRejection.WriteAsync(context, refused);
            return;
        }

        await next(context);
    }

    private async Task ClientAuthenticatingAsync(HttpContext context, string address)
    {
        var clientId = await CredentialedClientIdAsync(context);
        if (clientId is null)
        {
            var decision = await limits.AcquireAsync(RateLimits.TokenPerIp, address, context.RequestAborted);
            if (!decision.Allowed)
            {
                await RateLimitRejection.WriteAsync(context, decision);
                return;
            }

            await next(context);
            return;
        }

        var pair = $"{clientId}|{address}";
        // Note: only a request that authenticated as clientId spends its TokenPerClient, so only the holder of the
        // secret can exhaust it; checking it first is fair to everyone else.
        if (await limits.PeekAsync(RateLimits.TokenPerClient, clientId, context.RequestAborted) is { Allowed: false } busy)
        {
            await RateLimitRejection.WriteAsync(context, busy);
            return;
        }

        if (await limits.PeekAsync(RateLimits.ClientAuthFailuresPerClient, clientId, context.RequestAborted) is { Allowed: false } ceiling
            && await limits.CountAsync(RateLimits.ClientAuthFailures, FailedKey(pair), context.RequestAborted) > 0)
        {
            await RateLimitRejection.WriteAsync(context, ceiling);
            return;
        }

        if (await limits.AcquireAsync(RateLimits.TokenPerIp, address, context.RequestAborted) is { Allowed: false } flooded)
        {
            await RateLimitRejection.WriteAsync(context, flooded);
            return;
        }

        if (await limits.AcquireAsync(RateLimits.ClientAuthFailures, pair, context.RequestAborted) is { Allowed: false } guessing)
        {
            await limits.ReleaseAsync(RateLimits.TokenPerIp, address);
            await RateLimitRejection.WriteAsync(context, guessing);
            return;
        }

        var reservation = new ClientAuthReservation(limits, clientId, address, pair);
        context.Items[typeof(ClientAuthReservation)] = reservation;
        var failed = false;
        try
        {
            await next(context);
            failed = context.Response.StatusCode == StatusCodes.Status401Unauthorized;
        }
        finally
        {
            await reservation.CompleteAsync(failed);
        }
    }

    // The count of failures of one address for one client_id, kept apart from the reservations in flight.
    private static string FailedKey(string pair) => "failed|" + pair;

    /// <summary>
    /// The permits one credentialed request holds, and what happens to them: given back when the client
    /// authenticates (see <see cref="ClientAuthenticatedHandler"/>), kept when it fails.
    /// </summary>
    internal sealed class ClientAuthReservation(RateLimits limits, string clientId, string address, string pair)
    {
        private int _released;

        public string ClientId => clientId;

        public bool Authenticated { get; private set; }

        public async ValueTask AuthenticatedAsync()
        {
            Authenticated = true;
            await ReleaseAsync();
        }

        public async ValueTask CompleteAsync(bool failed)
        {
            if (Authenticated)
            {
                await limits.AcquireAsync(RateLimits.TokenPerClient, clientId, CancellationToken.None);
            }
            else if (failed)
            {
                // Note: the reservations stay spent; the failure also counts against the client_id's ceiling and
                // marks this address as one that has failed for it.
                await limits.AcquireAsync(RateLimits.ClientAuthFailuresPerClient, clientId, CancellationToken.None);
                await limits.AcquireAsync(RateLimits.ClientAuthFailures, FailedKey(pair), CancellationToken.None);
            }
            else if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                // Refused before the credentials were judged (a malformed request): not a guess, but still traffic
                // of this address that authenticated no one, so TokenPerIp stays spent.
                await limits.ReleaseAsync(RateLimits.ClientAuthFailures, pair);
            }
        }

        private async ValueTask ReleaseAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                await limits.ReleaseAsync(RateLimits.ClientAuthFailures, pair);
                await limits.ReleaseAsync(RateLimits.TokenPerIp, address);
            }
        }
    }

    // The client_id of a request that carries client credentials (HTTP Basic, client_secret or client_assertion),
    // or null for one that carries none (a public client, or no client at all).
    private static async Task<string?> CredentialedClientIdAsync(HttpContext context)
    {
        if (AuthenticationHeaderValue.TryParse(context.Request.Headers.Authorization, out var header)
            && string.Equals(header.Scheme, "Basic", StringComparison.OrdinalIgnoreCase) && header.Parameter is { } parameter)
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(parameter));
                var separator = decoded.IndexOf(':', StringComparison.Ordinal);
                // Note: RFC 6749 §2.3.1 form-encodes the id in Basic credentials ("+" is a space), as OpenIddict decodes it.
                return separator > 0 ? Bounded(WebUtility.UrlDecode(decoded[..separator])) : null;
            }
            catch (FormatException)
            {
                return null;
            }
        }

        // Note: OAuth requests are application/x-www-form-urlencoded; anything else is left for OpenIddict to refuse
        // with a 400, and a malformed body is not our 500.
        if (context.Request.ContentType?.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) == true)
        {
            try
            {
                var form = await context.Request.ReadFormAsync(context.RequestAborted);
                var credentialed = !string.IsNullOrEmpty(form["client_secret"].ToString()) || !string.IsNullOrEmpty(form["client_assertion"].ToString());
                return credentialed ? Bounded(form["client_id"].ToString()) : null;
            }
            catch (Exception exception) when (exception is InvalidDataException or IOException or BadHttpRequestException)
            {
                return null;
            }
        }

        return null;
    }

    // Note: a credentialed request without a usable client_id (missing, or absurdly long) is keyed as one
    // anonymous client, so it still spends the budgets of its address.
    private static string Bounded(string clientId) => string.IsNullOrEmpty(clientId) || clientId.Length > 200 ? "?" : clientId;
}

/// <summary>The 429 answers: OAuth-style JSON on the protocol endpoints, a page on the login form.</summary>
internal static class RateLimitRejection
{
    public static async Task WriteAsync(HttpContext context, RateLimitDecision decision)
    {
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(decision.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        if (OAuthErrorResponse.IsOAuthRequest(context))
        {
            // Note: slow_down at the token-style endpoints (RFC 8628 §3.5 gives it that meaning);
            // temporarily_unavailable at the authorization endpoint (RFC 6749 §4.1.2.1).
            var error = ProtocolPaths.EndpointOf(context)?.Has(EndpointTraits.Authorization) == true ? "temporarily_unavailable" : "slow_down";
            await OAuthErrorResponse.WriteAsync(context, StatusCodes.Status429TooManyRequests, error, "Too many requests. Wait before trying again.");
            return;
        }

        await TooManyAttemptsPage.Render(context, Math.Max(1, (int)Math.Ceiling(decision.RetryAfter.TotalSeconds))).ExecuteAsync(context);
    }
}

internal static class RateLimitingServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthRateLimiting(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RateLimitingOptions>().BindConfiguration(RateLimitingOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RateLimitingOptions>, RateLimitingOptionsValidator>();
        builder.Services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section);
        builder.Services.AddSingleton<RateLimits>();
        builder.Services.AddOpenIddict().AddServer(options => options.AddEventHandler(ClientAuthenticatedHandler.Descriptor));
        return builder;
    }
}
