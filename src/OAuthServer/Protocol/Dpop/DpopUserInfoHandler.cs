using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using OAuthServer.Protocol.SingleUse;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// Our userinfo endpoint as a DPoP protected resource (RFC 9449 §7): it takes <c>Authorization: DPoP &lt;token&gt;</c>
/// (OpenIddict reads only Bearer), and a bound token (one with <c>cnf.jkt</c>) only that way, with a proof of the
/// bound key for this method and URL whose <c>ath</c> is the token's hash; presented as Bearer it is refused
/// (§7.2), or a stolen bound token would work as a bearer token here. Bearer tokens without a binding work as
/// before. Refusals are 401 with a <c>DPoP</c> challenge that lists the accepted algorithms (§7.1).
/// </summary>
internal sealed class DpopUserInfoHandler(SpentIds spentIds, DpopRefusals refusals, IOptions<DpopOptions> options, TimeProvider clock) :
    IOpenIddictServerHandler<ExtractUserInfoRequestContext>,
    IOpenIddictServerHandler<ValidateUserInfoRequestContext>,
    IOpenIddictServerHandler<ApplyUserInfoResponseContext>
{
    private const string Endpoint = "userinfo";

    public static OpenIddictServerHandlerDescriptor ExtractDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ExtractUserInfoRequestContext>()
            .UseScopedHandler<DpopUserInfoHandler>()
            .SetOrder(OpenIddictServerAspNetCoreHandlers.ExtractAccessToken<ExtractUserInfoRequestContext>.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    // Note: after OpenIddict validated the token (signature, lifetime, entry) and the account gate admitted its user.
    public static OpenIddictServerHandlerDescriptor ValidateDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateUserInfoRequestContext>()
            .UseScopedHandler<DpopUserInfoHandler>()
            .SetOrder(OpenIddictServerHandlers.UserInfo.ValidateAuthentication.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    // Note: after OpenIddict chose the status and wrote its Bearer challenge, which this one replaces.
    public static OpenIddictServerHandlerDescriptor ApplyDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyUserInfoResponseContext>()
            .UseScopedHandler<DpopUserInfoHandler>()
            .SetOrder(OpenIddictServerAspNetCoreHandlers.AttachWwwAuthenticateHeader<ApplyUserInfoResponseContext>.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ExtractUserInfoRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        string? header = context.Transaction.GetHttpRequest()?.Headers[HeaderNames.Authorization];
        const string Prefix = Dpop.Scheme + " ";
        if (header is not null && header.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) && context.Request is { } request)
        {
            request.AccessToken = header[Prefix.Length..].Trim();
            context.Transaction.Properties[Dpop.ResourceRequestProperty] = true;
        }

        return ValueTask.CompletedTask;
    }

    public async ValueTask HandleAsync(ValidateUserInfoRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var http = context.Transaction.GetHttpRequest()
            ?? throw new InvalidOperationException("The userinfo request has no HTTP request.");
        var presentedAsDpop = context.Transaction.Properties.ContainsKey(Dpop.ResourceRequestProperty);
        var boundKey = BoundKey(context.AccessTokenPrincipal);
        var clientId = context.AccessTokenPrincipal?.GetClaim(Claims.ClientId);
        if (boundKey is null && !presentedAsDpop)
        {
            return;
        }

        context.Transaction.Properties[Dpop.ResourceRequestProperty] = true;
        if (boundKey is null)
        {
            refusals.Count("invalid", Endpoint);
            context.Reject(Errors.InvalidToken, "The DPoP scheme takes a DPoP-bound access token; this one is a bearer token (RFC 9449 section 7.1).");
            return;
        }

        if (!presentedAsDpop)
        {
            await refusals.KeyMismatchAsync(http.HttpContext, clientId, Endpoint, "access_token");
            context.Reject(Errors.InvalidToken, "The access token is bound to a DPoP key: present it with the DPoP scheme and a proof (RFC 9449 section 7.2).");
            return;
        }

        var headers = http.Headers[DpopProofReader.HeaderName];
        if (headers.Count != 1 || string.IsNullOrEmpty(headers[0]) || headers[0]!.Contains(',', StringComparison.Ordinal))
        {
            refusals.Count(headers.Count == 0 ? "missing" : "invalid", Endpoint);
            context.Reject(Dpop.InvalidProof, "Send exactly one DPoP header with the DPoP-bound access token (RFC 9449 section 7.1).");
            return;
        }

        var proof = DpopProofReader.Read(headers[0]!, http.Method, Dpop.EndpointUrl(context, ProtocolPaths.UserInfo), clock.GetUtcNow(), options.Value, out var error);
        if (proof is null || !string.Equals(proof.AccessTokenHash, DpopProofReader.AccessTokenHash(context.Request.AccessToken ?? string.Empty), StringComparison.Ordinal))
        {
            refusals.Count("invalid", Endpoint);
            context.Reject(Dpop.InvalidProof, proof is null ? error : "The DPoP proof's ath is not the hash of this access token (RFC 9449 section 4.3 item 12).");
            return;
        }

        if (!string.Equals(proof.Thumbprint, boundKey, StringComparison.Ordinal))
        {
            await refusals.KeyMismatchAsync(http.HttpContext, clientId, Endpoint, "access_token");
            context.Reject(Dpop.InvalidProof, "The DPoP proof is not signed with the key the access token is bound to (RFC 9449 section 7.1).");
            return;
        }

        if (!await spentIds.TrySpendAsync(SpentIdPurposes.DpopProof, proof.Thumbprint, proof.Id, proof.IssuedAt + options.Value.ProofLifetime))
        {
            await refusals.ReplayedAsync(http.HttpContext, clientId, Endpoint);
            context.Reject(Dpop.InvalidProof, "The DPoP proof has been used before: make a new proof for every request (RFC 9449 section 11.1).");
        }
    }

    public ValueTask HandleAsync(ApplyUserInfoResponseContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = context.Transaction.GetHttpRequest()?.HttpContext.Response;
        var error = context.Response.Error;
        if (response is null || string.IsNullOrEmpty(error)
            || !(context.Transaction.Properties.ContainsKey(Dpop.ResourceRequestProperty) || error == Dpop.InvalidProof))
        {
            return ValueTask.CompletedTask;
        }

        // Note: RFC 9449 §7.1: a resource refuses a DPoP request with 401 and a DPoP challenge, whatever the error.
        response.StatusCode = StatusCodes.Status401Unauthorized;
        var challenge = new StringBuilder(Dpop.Scheme).Append(" error=\"").Append(error).Append('"');
        if (context.Response.ErrorDescription is { Length: > 0 } description)
        {
            challenge.Append(", error_description=\"").Append(description.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
        }

        challenge.Append(", algs=\"").Append(string.Join(' ', DpopProofReader.Algorithms)).Append('"');
        response.Headers[HeaderNames.WWWAuthenticate] = challenge.ToString();
        return ValueTask.CompletedTask;
    }

    /// <summary>The <c>cnf.jkt</c> of an access token, or null when it is a bearer token.</summary>
    internal static string? BoundKey(System.Security.Claims.ClaimsPrincipal? principal)
    {
        if (principal?.GetClaim(Dpop.ConfirmationClaim) is not { Length: > 0 } confirmation)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(confirmation);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty(Dpop.ThumbprintMember, out var jkt) && jkt.ValueKind == JsonValueKind.String
                ? jkt.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
