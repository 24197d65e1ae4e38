using System.Buffers;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// RFC 7636 §4.1 and §4.2, threat model 2.2: PKCE only protects a code if the verifier can't be guessed, so its
/// shape is enforced, not just its hash: a verifier is 43 to 128 characters of the unreserved set
/// <c>[A-Za-z0-9-._~]</c>, and an S256 challenge is the 43-character base64url SHA-256 of one. OpenIddict checks
/// that the two match, but accepts <c>code_verifier=a</c> with a challenge made from "a".
/// </summary>
internal sealed class PkceFormatHandler :
    IOpenIddictServerHandler<ValidateAuthorizationRequestContext>,
    IOpenIddictServerHandler<ValidatePushedAuthorizationRequestContext>,
    IOpenIddictServerHandler<ValidateTokenRequestContext>
{
    private static readonly SearchValues<char> Unreserved =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~");

    private static readonly SearchValues<char> Base64Url =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    // Note: right after OpenIddict's own PKCE parameter checks (presence, method), before the client and the
    // redirect URI are looked at, so a bad challenge is the same server-shown invalid_request as a missing one.
    public static OpenIddictServerHandlerDescriptor AuthorizeDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateAuthorizationRequestContext>()
            .UseSingletonHandler<PkceFormatHandler>()
            .SetOrder(OpenIddictServerHandlers.Authentication.ValidateProofKeyForCodeExchangeParameters.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public static OpenIddictServerHandlerDescriptor PushedDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidatePushedAuthorizationRequestContext>()
            .UseSingletonHandler<PkceFormatHandler>()
            .SetOrder(OpenIddictServerHandlers.Authentication.ValidatePushedProofKeyForCodeExchangeParameters.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    // Note: before the code is compared with its challenge, so a malformed verifier is invalid_request (RFC 7636
    // §4.6 leaves the error to RFC 6749 §5.2: a malformed parameter), not a guess that merely failed (invalid_grant).
    public static OpenIddictServerHandlerDescriptor TokenDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenRequestContext>()
            .UseSingletonHandler<PkceFormatHandler>()
            .SetOrder(OpenIddictServerHandlers.Exchange.ValidateProofKeyForCodeExchangeParameters.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidateAuthorizationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        CheckChallenge(context, context.Request);
        return ValueTask.CompletedTask;
    }

    public ValueTask HandleAsync(ValidatePushedAuthorizationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        CheckChallenge(context, context.Request);
        return ValueTask.CompletedTask;
    }

    public ValueTask HandleAsync(ValidateTokenRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Request.CodeVerifier is { } verifier && !IsValidVerifier(verifier))
        {
            context.Reject(Errors.InvalidRequest, "The 'code_verifier' parameter must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' or '~' (RFC 7636 §4.1).");
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>RFC 7636 §4.1: code-verifier = 43*128unreserved.</summary>
    public static bool IsValidVerifier(string verifier) =>
        verifier.Length is >= 43 and <= 128 && !verifier.AsSpan().ContainsAnyExcept(Unreserved);

    /// <summary>RFC 7636 §4.2: BASE64URL(SHA256(verifier)) without padding is exactly 43 characters.</summary>
    public static bool IsValidS256Challenge(string challenge) =>
        challenge.Length == 43 && !challenge.AsSpan().ContainsAnyExcept(Base64Url);

    private static void CheckChallenge(BaseValidatingContext context, OpenIddictRequest request)
    {
        // Note: only S256 is enabled; a request with another method was already refused by OpenIddict.
        if (request.CodeChallenge is { } challenge && !IsValidS256Challenge(challenge))
        {
            context.Reject(Errors.InvalidRequest, "The 'code_challenge' parameter must be 43 base64url characters: the S256 hash of the verifier (RFC 7636 §4.2).");
        }
    }
}
