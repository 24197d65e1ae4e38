using OpenIddict.Server;

namespace OAuthServer.Protocol.Dpop;

/// <summary>The names DPoP (RFC 9449) adds to the protocol, and the ones this server uses to carry a binding.</summary>
internal static class Dpop
{
    /// <summary>The authorization scheme of a DPoP-bound access token at a resource (RFC 9449 §7.1).</summary>
    public const string Scheme = "DPoP";

    /// <summary>The <c>token_type</c> of a DPoP-bound access token (RFC 9449 §5).</summary>
    public const string TokenType = "DPoP";

    /// <summary>RFC 9449 §5 and §7.1: the proof is missing a rule, or the key doesn't match.</summary>
    public const string InvalidProof = "invalid_dpop_proof";

    /// <summary>RFC 9449 §8: retry with the nonce in the <c>DPoP-Nonce</c> header.</summary>
    public const string UseNonce = "use_dpop_nonce";

    public const string NonceHeader = "DPoP-Nonce";

    /// <summary>The authorization request parameter that binds the code to a key (RFC 9449 §10).</summary>
    public const string JktParameter = "dpop_jkt";

    /// <summary>RFC 7800 / RFC 9449 §6.1: the confirmation claim of a bound access token, <c>{"jkt": …}</c>.</summary>
    public const string ConfirmationClaim = "cnf";

    public const string ThumbprintMember = "jkt";

    /// <summary>
    /// The thumbprint a code or a refresh token is bound to. Codes and refresh tokens are encrypted and read only
    /// by this server, so the claim is never seen outside it.
    /// </summary>
    public const string BoundKeyClaim = "dpop_jkt";

    /// <summary>
    /// RFC 9449 §5.2 client metadata, stored in the client's OpenIddict settings as "true": the client must send
    /// a proof with every token request.
    /// </summary>
    public const string BoundAccessTokensSetting = "dpop_bound_access_tokens";

    /// <summary>Discovery metadata (RFC 9449 §5.1).</summary>
    public const string SigningAlgorithmsMetadata = "dpop_signing_alg_values_supported";

    /// <summary>The transaction property that holds the <see cref="DpopBinding"/> of a token request.</summary>
    internal const string BindingProperty = "oauthserver:dpop_binding";

    /// <summary>The transaction property set when a userinfo request used the DPoP scheme or a bound token.</summary>
    internal const string ResourceRequestProperty = "oauthserver:dpop_resource_request";

    /// <summary>
    /// The public URL of an endpoint, which <c>htu</c> must name: from the configured issuer when there is one (the
    /// URL clients see in discovery, whatever proxy sits in front), else from the request's own base URL, which
    /// already reflects the forwarded headers of trusted proxies.
    /// </summary>
    public static Uri EndpointUrl(OpenIddictServerEvents.BaseContext context, string path)
    {
        var issuer = context.Options.Issuer ?? context.BaseUri
            ?? throw new InvalidOperationException("Neither the issuer nor the request's base URL is known.");
        var root = issuer.AbsoluteUri.EndsWith('/') ? issuer : new Uri(issuer.AbsoluteUri + "/");
        return new Uri(root, ProtocolPaths.RelativeToIssuer(path));
    }
}

/// <summary>What a valid proof at the token endpoint binds: always the access token, the refresh token when the client is public.</summary>
internal sealed record DpopBinding(string Thumbprint, bool BindsRefreshToken);
