using System.Collections.Immutable;
using System.Globalization;
using Microsoft.AspNetCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Observability;
using OAuthServer.Protocol.SingleUse;
using OpenIddict.Abstractions;
using OpenIddict.EntityFrameworkCore.Models;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Assertions;

/// <summary>
/// private_key_jwt client authentication (RFC 7523 §3, OIDC Core §9) on top of what OpenIddict checks itself. OpenIddict
/// verifies the signature with the client's registered keys (<c>JsonWebKeySet</c>), the <c>typ</c>
/// (<c>client-authentication+jwt</c>), a single <c>aud</c> equal to the issuer (RFC 10070, which updates RFC 7523: the
/// token endpoint is not accepted, CVE-2025-27370), iss = sub = client_id and that <c>exp</c> is present. These
/// handlers add, in pipeline order:
/// <list type="number">
/// <item><see cref="Precheck"/>: client_id is sent (it keys the client-auth budgets), the <c>alg</c> is asymmetric,
/// and a jwks_uri client's keys are fetched (<see cref="JwksUriKeys"/>).</item>
/// <item><see cref="Freshness"/>: <c>exp</c> in the future and at most <see cref="AssertionOptions.MaxLifetime"/>
/// ahead, <c>nbf</c> and <c>iat</c> not in the future, and the <c>jti</c> spent once across every node
/// (<see cref="SpentIds"/>).</item>
/// <item><see cref="Failures"/>: any refusal while an assertion is being judged is <c>invalid_client</c> (RFC 7523
/// §3.1; a 401, so it spends the client-auth failure budget like a wrong secret), counted and logged without the
/// assertion.</item>
/// <item><see cref="Discovery"/>: the accepted algorithms in the metadata (RFC 8414 §2).</item>
/// </list>
/// </summary>
internal static partial class ClientAssertionHandlers
{
    public static ImmutableArray<OpenIddictServerHandlerDescriptor> DefaultHandlers { get; } =
    [
        Precheck.Descriptor,
        Freshness.Descriptor,
        Failures.Descriptor,
        Discovery.Descriptor,
    ];

    private const string ClientAuthenticationType = "client-authentication+jwt";

    // Set while an assertion is being judged; removed once it is accepted.
    private const string PendingProperty = ".oauthserver.client_assertion.pending";

    // Why our own handlers refused it, for the metric; OpenIddict's refusals count as "rejected".
    private const string ReasonProperty = ".oauthserver.client_assertion.reason";

    private static void Refuse(ProcessAuthenticationContext context, string reason, string description)
    {
        context.Transaction.Properties[ReasonProperty] = reason;
        context.Reject(Errors.InvalidClient, description);
    }

    /// <summary>Runs before OpenIddict validates the assertion.</summary>
    internal sealed class Precheck(IOpenIddictApplicationManager applications, JwksUriKeys jwksUri) : IOpenIddictServerHandler<ProcessAuthenticationContext>
    {
        public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
            OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessAuthenticationContext>()
                .AddFilter<OpenIddictServerHandlerFilters.RequireClientAssertionValidated>()
                .UseScopedHandler<Precheck>()
                .SetOrder(OpenIddictServerHandlers.ValidateClientAssertion.Descriptor.Order - 500)
                .SetType(OpenIddictServerHandlerType.Custom)
                .Build();

        public async ValueTask HandleAsync(ProcessAuthenticationContext context)
        {
            if (string.IsNullOrEmpty(context.ClientAssertion))
            {
                return;
            }

            context.Transaction.Properties[PendingProperty] = true;
            // Note: RFC 7521 §4.2 lets client_id be left out, but the rate limiter keys the client-auth budgets by the
            // client_id it can read before any check: without it, a client's requests would escape its own budget.
            if (string.IsNullOrEmpty(context.ClientId))
            {
                Refuse(context, "client_id_missing", "client_id is required with client_assertion.");
                return;
            }

            JsonWebToken token;
            try
            {
                token = new JsonWebToken(context.ClientAssertion);
            }
            // Note: a five-part value is read as a JWE, whose parts are decoded at once: a bad one throws FormatException.
            catch (Exception exception) when (exception is ArgumentException or SecurityTokenException or FormatException)
            {
                Refuse(context, "malformed", "The client assertion is not a well-formed JWT.");
                return;
            }

            if (!ClientKeySet.SigningAlgorithms.Contains(token.Alg))
            {
                Refuse(context, "algorithm", "The client assertion must be signed with " + string.Join(", ", ClientKeySet.SigningAlgorithms.Order(StringComparer.Ordinal)) + ".");
                return;
            }

            // Note: RFC 10070 (updating RFC 7523): a client authentication JWT is explicitly typed, so it can't be
            // taken for another JWT the client signs with the same key; OpenIddict enforces it. Said here in words,
            // since libraries that predate the RFC (openid-client's default, for one) send no typ.
            if (!string.Equals(token.Typ, ClientAuthenticationType, StringComparison.OrdinalIgnoreCase)
                && !string.Equals(token.Typ, "application/" + ClientAuthenticationType, StringComparison.OrdinalIgnoreCase))
            {
                Refuse(context, "type", $"The client assertion must have the header typ '{ClientAuthenticationType}' and aud = the issuer (RFC 10070).");
                return;
            }

            if (await applications.FindByClientIdAsync(context.ClientId) is not OpenIddictEntityFrameworkCoreApplication application
                || JwksUriOf(await applications.GetPropertiesAsync(application)) is not { } uri)
            {
                return;
            }

            if (await jwksUri.EnsureAsync(context.ClientId, application.ConcurrencyToken ?? string.Empty, uri, string.IsNullOrEmpty(token.Kid) ? null : token.Kid) is { } problem)
            {
                Refuse(context, "jwks_uri", problem);
            }
        }
    }

    /// <summary>Runs after OpenIddict authenticated the client and before the rate limiter is told so.</summary>
    internal sealed class Freshness(SpentIds spent, IOptions<AssertionOptions> options, TimeProvider time, SecurityEvents events, OAuthDbContext db, OAuthMetrics metrics)
        : IOpenIddictServerHandler<ProcessAuthenticationContext>
    {
        public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
            OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessAuthenticationContext>()
                .AddFilter<OpenIddictServerHandlerFilters.RequireClientAssertionPrincipal>()
                .UseScopedHandler<Freshness>()
                // Note: before ClientAuthenticatedHandler (+500), which gives the client its budget back.
                .SetOrder(OpenIddictServerHandlers.ValidateClientSecret.Descriptor.Order + 100)
                .SetType(OpenIddictServerHandlerType.Custom)
                .Build();

        public async ValueTask HandleAsync(ProcessAuthenticationContext context)
        {
            var principal = context.ClientAssertionPrincipal!;
            var now = time.GetUtcNow();
            var skew = options.Value.ClockSkew;
            var expires = principal.GetExpirationDate();
            if (expires is not { } exp || exp <= now - skew)
            {
                Refuse(context, "expired", "The client assertion has expired.");
                return;
            }

            if (exp > now + options.Value.MaxLifetime + skew)
            {
                Refuse(context, "lifetime", $"The client assertion's exp is more than {options.Value.MaxLifetime.TotalSeconds:0} seconds ahead.");
                return;
            }

            if (Date(principal.GetClaim(Claims.NotBefore)) is { } nbf && nbf > now + skew)
            {
                Refuse(context, "not_yet_valid", "The client assertion is not valid yet (nbf).");
                return;
            }

            if (Date(principal.GetClaim(Claims.IssuedAt)) is { } iat && iat > now + skew)
            {
                Refuse(context, "issued_in_future", "The client assertion was issued in the future (iat).");
                return;
            }

            // Note: OIDC Core §9 makes jti required; it is what makes an assertion single-use (RFC 7523 §3 item 7).
            if (principal.GetClaim(Claims.JwtId) is not { Length: > 0 and <= SpentIds.MaxIdLength } jti)
            {
                Refuse(context, "jti", $"The client assertion needs a jti of 1 to {SpentIds.MaxIdLength} characters.");
                return;
            }

            // Note: remembered until the assertion can no longer pass the exp check above, on every node.
            if (!await spent.TrySpendAsync(SpentIdPurposes.ClientAssertion, context.ClientId!, jti, exp + skew))
            {
                metrics.ClientAssertionReplays.Add(1);
                var http = context.Transaction.GetHttpRequest()?.HttpContext;
                events.Add(SecurityEventTypes.ClientAssertionReplayed, http is null ? RequestOrigin.None with { ClientId = context.ClientId } : RequestOrigin.From(http, context.ClientId));
                await db.SaveChangesAsync(CancellationToken.None);
                Refuse(context, "replayed", "The client assertion was already used (jti).");
                return;
            }

            context.Transaction.Properties.Remove(PendingProperty);
        }

        private static DateTimeOffset? Date(string? value) =>
            double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds) && Math.Abs(seconds) < 1e11
                ? DateTimeOffset.FromUnixTimeSeconds((long)seconds)
                : null;
    }

    /// <summary>
    /// Turns every refusal of a request whose assertion was not accepted into <c>invalid_client</c>, and counts and
    /// logs it (the client_id and the reason; never the assertion).
    /// </summary>
    internal sealed partial class Failures(OAuthMetrics metrics, ILogger<Failures> logger) : IOpenIddictServerHandler<ProcessErrorContext>
    {
        public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
            OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessErrorContext>()
                .UseSingletonHandler<Failures>()
                .SetOrder(OpenIddictServerHandlers.AttachErrorParameters.Descriptor.Order - 1_000)
                .SetType(OpenIddictServerHandlerType.Custom)
                .Build();

        public ValueTask HandleAsync(ProcessErrorContext context)
        {
            if (!context.Transaction.Properties.ContainsKey(PendingProperty))
            {
                return ValueTask.CompletedTask;
            }

            var reason = context.Transaction.Properties.TryGetValue(ReasonProperty, out var value) && value is string ours ? ours : "rejected";
            metrics.ClientAssertionFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));
            LogRefused(logger, context.Request?.ClientId, reason, context.Error, context.ErrorDescription);
            // Note: RFC 7523 §3.1: an assertion that fails is invalid_client, whichever check failed (OpenIddict
            // answers invalid_grant or invalid_token for some), so the response is a 401 that spends the budget.
            context.Error = Errors.InvalidClient;
            return ValueTask.CompletedTask;
        }

        [LoggerMessage(Level = LogLevel.Information, Message = "client assertion of client {ClientId} refused: {Reason} ({Error}: {Description})")]
        private static partial void LogRefused(ILogger logger, string? clientId, string reason, string? error, string? description);
    }

    /// <summary>RFC 8414 §2: the algorithms accepted for the assertions at each endpoint that takes them.</summary>
    internal sealed class Discovery : IOpenIddictServerHandler<HandleConfigurationRequestContext>
    {
        public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
            OpenIddictServerHandlerDescriptor.CreateBuilder<HandleConfigurationRequestContext>()
                .UseSingletonHandler<Discovery>()
                .SetOrder(OpenIddictServerHandlers.Discovery.AttachClientAuthenticationMethods.Descriptor.Order + 500)
                .SetType(OpenIddictServerHandlerType.Custom)
                .Build();

        public ValueTask HandleAsync(HandleConfigurationRequestContext context)
        {
            var algorithms = ClientKeySet.SigningAlgorithms.Order(StringComparer.Ordinal).ToImmutableArray<string?>();
            foreach (var (name, methods) in new[]
            {
                ("token_endpoint_auth_signing_alg_values_supported", context.TokenEndpointAuthenticationMethods),
                ("introspection_endpoint_auth_signing_alg_values_supported", context.IntrospectionEndpointAuthenticationMethods),
                ("revocation_endpoint_auth_signing_alg_values_supported", context.RevocationEndpointAuthenticationMethods),
            })
            {
                if (methods.Contains(ClientAuthenticationMethods.PrivateKeyJwt))
                {
                    context.Metadata[name] = algorithms;
                }
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>The jwks_uri a client registered (kept in the application's properties), if any.</summary>
    public static string? JwksUriOf(ImmutableDictionary<string, System.Text.Json.JsonElement> properties) =>
        properties.TryGetValue(JwksUriProperty, out var value) && value.ValueKind == System.Text.Json.JsonValueKind.String ? value.GetString() : null;

    /// <summary>The application property that holds a client's jwks_uri.</summary>
    public const string JwksUriProperty = "jwks_uri";
}
