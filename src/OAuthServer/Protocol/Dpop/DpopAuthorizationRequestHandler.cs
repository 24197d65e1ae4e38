using Microsoft.AspNetCore;
using Microsoft.Extensions.Options;
using OAuthServer.Protocol.SingleUse;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// RFC 9449 §10: a client binds the code to its key with <c>dpop_jkt</c> on the authorization request (directly
/// or pushed), or, at PAR, with a DPoP proof (§10.1), whose thumbprint then becomes the request's
/// <c>dpop_jkt</c>. When a pushed request has both, they must name the same key. The value must have the shape
/// of a SHA-256 thumbprint, so nothing else is carried into the code.
/// </summary>
internal sealed class DpopAuthorizationRequestHandler(SpentIds spentIds, DpopRefusals refusals, IOptions<DpopOptions> options, TimeProvider clock) :
    IOpenIddictServerHandler<ValidateAuthorizationRequestContext>,
    IOpenIddictServerHandler<ValidatePushedAuthorizationRequestContext>
{
    private const string Endpoint = "par";

    public static OpenIddictServerHandlerDescriptor AuthorizeDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateAuthorizationRequestContext>()
            .UseScopedHandler<DpopAuthorizationRequestHandler>()
            .SetOrder(OpenIddictServerHandlers.Authentication.ValidateAuthorizedParty.Descriptor.Order + 1_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    // Note: after the client is authenticated and the request validated, so a proof is spent only on a request
    // that would otherwise be accepted.
    public static OpenIddictServerHandlerDescriptor PushedDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidatePushedAuthorizationRequestContext>()
            .UseScopedHandler<DpopAuthorizationRequestHandler>()
            .SetOrder(OpenIddictServerHandlers.Authentication.ValidatePushedAuthorizedParty.Descriptor.Order + 1_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidateAuthorizationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        CheckShape(context, context.Request);
        return ValueTask.CompletedTask;
    }

    public async ValueTask HandleAsync(ValidatePushedAuthorizationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!CheckShape(context, context.Request))
        {
            return;
        }

        var http = context.Transaction.GetHttpRequest();
        var headers = http?.Headers[DpopProofReader.HeaderName] ?? default;
        if (http is null || headers.Count == 0)
        {
            return;
        }

        if (headers.Count > 1 || string.IsNullOrEmpty(headers[0]) || headers[0]!.Contains(',', StringComparison.Ordinal))
        {
            refusals.Count("invalid", Endpoint);
            context.Reject(Dpop.InvalidProof, "Send exactly one DPoP header (RFC 9449 section 4.3 item 1).");
            return;
        }

        var proof = DpopProofReader.Read(headers[0]!, http.Method, Dpop.EndpointUrl(context, ProtocolPaths.PushedAuthorization), clock.GetUtcNow(), options.Value, out var error);
        if (proof is null)
        {
            refusals.Count("invalid", Endpoint);
            context.Reject(Dpop.InvalidProof, error);
            return;
        }

        if (!await spentIds.TrySpendAsync(SpentIdPurposes.DpopProof, proof.Thumbprint, proof.Id, proof.IssuedAt + options.Value.ProofLifetime))
        {
            await refusals.ReplayedAsync(http.HttpContext, context.ClientId, Endpoint);
            context.Reject(Dpop.InvalidProof, "The DPoP proof has been used before: make a new proof for every request (RFC 9449 section 11.1).");
            return;
        }

        var named = (string?)context.Request.GetParameter(Dpop.JktParameter);
        if (named is not null && !string.Equals(named, proof.Thumbprint, StringComparison.Ordinal))
        {
            await refusals.KeyMismatchAsync(http.HttpContext, context.ClientId, Endpoint, "code");
            context.Reject(Dpop.InvalidProof, "The DPoP proof's key is not the one dpop_jkt names (RFC 9449 section 10.1).");
            return;
        }

        // Note: stored with the pushed request and restored at the authorization endpoint, where it binds the code.
        context.Request.SetParameter(Dpop.JktParameter, proof.Thumbprint);
    }

    private static bool CheckShape(BaseValidatingContext context, OpenIddictRequest request)
    {
        var parameter = request.GetParameter(Dpop.JktParameter);
        if (parameter is null)
        {
            return true;
        }

        if (parameter.Value.Count <= 1 && (string?)parameter.Value is { } jkt && DpopProofReader.IsThumbprint(jkt))
        {
            return true;
        }

        context.Reject(Errors.InvalidRequest, "The 'dpop_jkt' parameter must be the 43-character base64url SHA-256 JWK thumbprint of the client's DPoP key (RFC 9449 section 10).");
        return false;
    }
}
