using Microsoft.AspNetCore;
using Microsoft.Extensions.Options;
using OAuthServer.Protocol.SingleUse;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// The DPoP proof of a token request (RFC 9449 §5), after OpenIddict has authenticated the client and validated
/// the grant, before anything is redeemed: the proof's rules (<see cref="DpopProofReader"/>), the server nonce
/// when one is required (§8), its <c>jti</c> spent once across every node (§11.1), then the bindings made
/// earlier: a code issued for <c>dpop_jkt</c> (§10) and a public client's refresh token (§5) redeem only with a
/// proof of their key, and a client registered with <c>dpop_bound_access_tokens</c> (§5.2) gets nothing without
/// a proof. A valid proof leaves a <see cref="DpopBinding"/> for <see cref="DpopTokenBindingHandler"/>.
/// </summary>
internal sealed class DpopTokenRequestHandler(
    SpentIds spentIds, DpopNonces nonces, DpopRefusals refusals, IOpenIddictApplicationManager applications, IOptions<DpopOptions> options, TimeProvider clock)
    : IOpenIddictServerHandler<ValidateTokenRequestContext>
{
    private const string Endpoint = "token";

    // Note: after every built-in check (client, grant, PKCE, scopes), so a proof is spent only on a request that
    // would otherwise succeed, and before the sign-in that redeems the code or refresh token.
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenRequestContext>()
            .UseScopedHandler<DpopTokenRequestHandler>()
            .SetOrder(OpenIddictServerHandlers.Exchange.ValidateGrantedScopes.Descriptor.Order + 1_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ValidateTokenRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var http = context.Transaction.GetHttpRequest()
            ?? throw new InvalidOperationException("The token request has no HTTP request.");
        var clientId = context.ClientId;
        var application = string.IsNullOrEmpty(clientId) ? null : await applications.FindByClientIdAsync(clientId, context.CancellationToken);
        var isPublic = application is not null && await applications.HasClientTypeAsync(application, ClientTypes.Public, context.CancellationToken);
        var required = application is not null
            && (await applications.GetSettingsAsync(application, context.CancellationToken)).TryGetValue(Dpop.BoundAccessTokensSetting, out var setting)
            && bool.TryParse(setting, out var on) && on;

        var (bound, boundKey) = context.Request.IsAuthorizationCodeGrantType() ? ("code", context.AuthorizationCodePrincipal?.GetClaim(Dpop.BoundKeyClaim))
            : context.Request.IsRefreshTokenGrantType() ? ("refresh_token", context.RefreshTokenPrincipal?.GetClaim(Dpop.BoundKeyClaim))
            : ("none", null);

        var headers = http.Headers[DpopProofReader.HeaderName];
        if (headers.Count == 0)
        {
            if (boundKey is not null)
            {
                await refusals.KeyMismatchAsync(http.HttpContext, clientId, Endpoint, bound);
                context.Reject(Errors.InvalidGrant, bound == "code"
                    ? "The authorization code was issued for a DPoP key (dpop_jkt): redeem it with a DPoP proof of that key (RFC 9449 section 10)."
                    : "The refresh token is bound to a DPoP key: refresh it with a DPoP proof of that key (RFC 9449 section 5).");
                return;
            }

            if (required)
            {
                refusals.Count("missing", Endpoint);
                context.Reject(Errors.InvalidRequest, "This client is registered with dpop_bound_access_tokens: every token request needs a DPoP proof (RFC 9449 section 5.2).");
            }

            return;
        }

        // Note: RFC 9449 §4.3 item 1: exactly one proof. Two headers, or two values folded into one, are refused.
        if (headers.Count > 1 || string.IsNullOrEmpty(headers[0]) || headers[0]!.Contains(',', StringComparison.Ordinal))
        {
            refusals.Count("invalid", Endpoint);
            context.Reject(Dpop.InvalidProof, "Send exactly one DPoP header (RFC 9449 section 4.3 item 1).");
            return;
        }

        var proof = DpopProofReader.Read(headers[0]!, http.Method, Dpop.EndpointUrl(context, ProtocolPaths.Token), clock.GetUtcNow(), options.Value, out var error);
        if (proof is null)
        {
            refusals.Count("invalid", Endpoint);
            context.Reject(Dpop.InvalidProof, error);
            return;
        }

        // Note: before the jti is spent: the client retries with a new proof carrying the nonce of our answer.
        if (options.Value.NonceRequiredFor(clientId) && !nonces.IsCurrent(proof.Nonce))
        {
            refusals.Count("nonce", Endpoint);
            context.Reject(Dpop.UseNonce, "The authorization server requires a DPoP nonce: make a new proof with the DPoP-Nonce header of this answer (RFC 9449 section 8).");
            return;
        }

        // Note: the ledger remembers the jti until the proof is too old to be accepted anyway.
        if (!await spentIds.TrySpendAsync(SpentIdPurposes.DpopProof, proof.Thumbprint, proof.Id, proof.IssuedAt + options.Value.ProofLifetime))
        {
            await refusals.ReplayedAsync(http.HttpContext, clientId, Endpoint);
            context.Reject(Dpop.InvalidProof, "The DPoP proof has been used before: make a new proof for every request (RFC 9449 section 11.1).");
            return;
        }

        if (boundKey is not null && !string.Equals(boundKey, proof.Thumbprint, StringComparison.Ordinal))
        {
            await refusals.KeyMismatchAsync(http.HttpContext, clientId, Endpoint, bound);
            context.Reject(Errors.InvalidGrant, bound == "code"
                ? "The DPoP proof is not signed with the key named by dpop_jkt when the code was requested (RFC 9449 section 10)."
                : "The DPoP proof is not signed with the key the refresh token is bound to (RFC 9449 section 5).");
            return;
        }

        // Note: RFC 9449 §5: a public client's refresh token is bound to its key (it has nothing else proving it is
        // the client); a confidential client's is not, as it authenticates on every refresh.
        context.Transaction.Properties[Dpop.BindingProperty] = new DpopBinding(proof.Thumbprint, BindsRefreshToken: isPublic);
    }
}
