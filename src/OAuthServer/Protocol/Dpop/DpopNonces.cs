using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// Server nonces for DPoP proofs (RFC 9449 §8): the time a nonce was given out, authenticated and encrypted with
/// the Data Protection key ring every node shares (in the database), so any node verifies a nonce another node
/// gave out, and nothing is stored per nonce. A nonce is good for <see cref="DpopOptions.NonceLifetime"/>; a
/// proof's <c>jti</c> stays single-use whatever its nonce.
/// </summary>
internal sealed class DpopNonces(IDataProtectionProvider protection, TimeProvider clock, IOptions<DpopOptions> options)
{
    private const int MaxLength = 512;

    private readonly IDataProtector _protector = protection.CreateProtector("OAuthServer.Protocol.Dpop.Nonce.v1");

    public string Issue()
    {
        Span<byte> issuedAt = stackalloc byte[sizeof(long)];
        BinaryPrimitives.WriteInt64BigEndian(issuedAt, clock.GetUtcNow().ToUnixTimeSeconds());
        // Note: base64url is within RFC 9449 §8.1's NQCHAR set, so the nonce needs no quoting in any header.
        return Base64Url.EncodeToString(_protector.Protect(issuedAt.ToArray()));
    }

    public bool IsCurrent(string? nonce)
    {
        if (string.IsNullOrEmpty(nonce) || nonce.Length > MaxLength)
        {
            return false;
        }

        byte[] issuedAt;
        try
        {
            issuedAt = _protector.Unprotect(Base64Url.DecodeFromChars(nonce));
        }
        catch (Exception exception) when (exception is CryptographicException or FormatException)
        {
            return false;
        }

        if (issuedAt.Length != sizeof(long))
        {
            return false;
        }

        var age = clock.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(issuedAt));
        return age >= -options.Value.ClockSkew && age <= options.Value.NonceLifetime;
    }
}
