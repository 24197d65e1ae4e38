using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Keys;

/// <summary>
/// Keys for the tokens only this server ever reads (authorization codes, refresh tokens, PAR request tokens):
/// an HMAC-SHA256 signing key and an AES-256 key-wrap key, derived with HKDF (RFC 5869) from each encryption
/// key's RSA private exponent. Nobody else verifies or decrypts these tokens, so public-key cryptography buys
/// nothing for them and costs two RSA private-key operations per token (the signature when it is issued, the
/// RSA-OAEP unwrap when it is redeemed), the largest share of a refresh's CPU with RSA. The derived keys
/// come from the mounted key folder like every other key, so every node derives the same ones, and they
/// rotate and retire with the encryption key they come from (their kid is that key's kid plus a suffix).
/// Access and identity tokens are untouched: RS256 with the keys published in the JWKS.
/// </summary>
internal sealed class ServerTokenKeys(KeyRing ring, TimeProvider clock, IOptions<Protocol.TokenOptions> tokens)
{
    // Note: HKDF's info separates the two uses, so the signing key and the wrapping key are independent even
    // though they come from one secret (NIST SP 800-108 key separation).
    private static readonly byte[] Salt = SHA256.HashData("OAuthServer server-only token keys"u8);
    private static readonly byte[] SigningInfo = "HS256 signing v1"u8.ToArray();
    private static readonly byte[] WrappingInfo = "A256KW wrapping v1"u8.ToArray();

    private readonly ConditionalWeakTable<KeyEntry, Derived?> _derived = [];

    /// <summary>The credentials of the active encryption key, or nothing (the RSA keys then serve as before).</summary>
    public Derived? Active => KeyRing.Ordered(ring.Encryption, clock.GetUtcNow().UtcDateTime, tokens.Value.RefreshTokenLifetime)
        .Select(DerivedFrom).FirstOrDefault();

    /// <summary>Every key that may still have to read a token: those of every encryption key not yet gone.</summary>
    public IEnumerable<Derived> Readable => KeyRing.Ordered(ring.Encryption, clock.GetUtcNow().UtcDateTime, tokens.Value.RefreshTokenLifetime)
        .Select(DerivedFrom).OfType<Derived>();

    private Derived? DerivedFrom(KeyEntry entry) => _derived.GetValue(entry, Derive);

    public sealed record Derived(SigningCredentials Signing, EncryptingCredentials Wrapping);

    /// <summary>Derives the two keys of one encryption key, or nothing when its private part can't be exported.</summary>
    public static Derived? Derive(KeyEntry entry)
    {
        if (entry.Key is not RsaSecurityKey key)
        {
            return null; // encryption keys are RSA; anything else keeps OpenIddict's own handling
        }

        byte[] exponent;
        try
        {
            exponent = (key.Rsa?.ExportParameters(includePrivateParameters: true) ?? key.Parameters).D
                ?? throw new CryptographicException("no private exponent");
        }
        catch (CryptographicException)
        {
            return null;
        }

        try
        {
            var signing = new SymmetricSecurityKey(HKDF.DeriveKey(HashAlgorithmName.SHA256, exponent, 32, Salt, SigningInfo))
            {
                KeyId = entry.Kid + ".hs256",
            };
            var wrapping = new SymmetricSecurityKey(HKDF.DeriveKey(HashAlgorithmName.SHA256, exponent, 32, Salt, WrappingInfo))
            {
                KeyId = entry.Kid + ".a256kw",
            };
            return new(new SigningCredentials(signing, SecurityAlgorithms.HmacSha256),
                new EncryptingCredentials(wrapping, SecurityAlgorithms.Aes256KW, SecurityAlgorithms.Aes256CbcHmacSha512));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(exponent);
        }
    }

    /// <summary>Token types that only this server reads back; every other type keeps OpenIddict's asymmetric choice.</summary>
    private static bool IsServerOnly(string? tokenType) => tokenType is TokenTypeIdentifiers.Private.AuthorizationCode
        or TokenTypeIdentifiers.RefreshToken
        or TokenTypeIdentifiers.Private.RequestToken
        or TokenTypeIdentifiers.Private.DeviceCode
        or TokenTypeIdentifiers.Private.UserCode;

    /// <summary>Signs and seals a server-only token with the active derived keys, right after OpenIddict's own choice.</summary>
    internal sealed class GenerationHandler(ServerTokenKeys keys) : IOpenIddictServerHandler<GenerateTokenContext>
    {
        public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
            OpenIddictServerHandlerDescriptor.CreateBuilder<GenerateTokenContext>()
                .UseSingletonHandler<GenerationHandler>()
                .SetOrder(OpenIddictServerHandlers.Protection.AttachSecurityCredentials.Descriptor.Order + 1)
                .SetType(OpenIddictServerHandlerType.Custom)
                .Build();

        public ValueTask HandleAsync(GenerateTokenContext context)
        {
            if (IsServerOnly(context.TokenType) && keys.Active is { } active)
            {
                context.SigningCredentials = active.Signing;
                context.EncryptionCredentials = context.EncryptionCredentials is null ? null : active.Wrapping;
            }

            return default;
        }
    }

    /// <summary>
    /// Lets the validation of a token that may be server-only (the expected types include one, or any type is
    /// accepted, as at introspection and revocation) use the derived keys too. An access or identity token is
    /// never checked against them, so a symmetric key can't stand in for the published ones.
    /// </summary>
    internal sealed class ValidationHandler(ServerTokenKeys keys) : IOpenIddictServerHandler<ValidateTokenContext>
    {
        public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
            OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenContext>()
                .UseSingletonHandler<ValidationHandler>()
                .SetOrder(OpenIddictServerHandlers.Protection.ResolveTokenValidationParameters.Descriptor.Order + 1)
                .SetType(OpenIddictServerHandlerType.Custom)
                .Build();

        public ValueTask HandleAsync(ValidateTokenContext context)
        {
            var parameters = context.TokenValidationParameters;
            if (parameters is null || !(context.ValidTokenTypes.Count == 0 || context.ValidTokenTypes.Any(IsServerOnly)))
            {
                return default;
            }

            var readable = keys.Readable.ToList();
            if (readable.Count > 0)
            {
                // Note: OpenIddict cloned these parameters for this one validation, so nothing shared changes.
                parameters.IssuerSigningKeys = [.. parameters.IssuerSigningKeys ?? [], .. readable.Select(derived => derived.Signing.Key)];
                parameters.TokenDecryptionKeys = [.. parameters.TokenDecryptionKeys ?? [], .. readable.Select(derived => derived.Wrapping.Key)];
            }

            return default;
        }
    }
}
