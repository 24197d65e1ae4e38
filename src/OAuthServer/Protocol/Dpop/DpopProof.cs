using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace OAuthServer.Protocol.Dpop;

/// <summary>A DPoP proof (RFC 9449 §4.2) whose form, signature, method, URL and age have been checked.</summary>
/// <param name="Thumbprint">The RFC 7638 SHA-256 thumbprint of the proof's public key: what tokens are bound to.</param>
internal sealed record DpopProof(string Thumbprint, string Id, DateTimeOffset IssuedAt, string? Nonce, string? AccessTokenHash);

/// <summary>
/// Reads and checks one DPoP proof as RFC 9449 §4.3 lists, except what needs state (the <c>jti</c> ledger, the
/// nonce, the token binding), which the endpoint's handler adds. The answer to a bad proof says which rule it
/// broke, never what the proof held, so nothing a client sent is echoed into responses or logs.
/// </summary>
internal static class DpopProofReader
{
    /// <summary>The header that carries a proof (RFC 9449 §4.1).</summary>
    public const string HeaderName = "DPoP";

    /// <summary>The <c>typ</c> of a proof (RFC 9449 §4.2).</summary>
    public const string ProofType = "dpop+jwt";

    /// <summary>A proof is a small JWT; anything longer is refused before it is decoded.</summary>
    public const int MaxLength = 8 * 1024;

    /// <summary>
    /// The asymmetric algorithms accepted, as discovery advertises them (RFC 9449 §5.1). <c>none</c> and every
    /// MAC algorithm are absent: a proof must show possession of a private key (§4.3 item 5).
    /// </summary>
    public static IReadOnlyList<string> Algorithms { get; } = ["ES256", "ES384", "RS256", "PS256"];

    // Note: RFC 7517/7518 private and symmetric members: a proof that publishes any of them is refused (§4.3
    // item 7), since a client that sends its private key has no key left to prove possession of.
    private static readonly string[] PrivateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

    public static DpopProof? Read(string compact, string method, Uri endpoint, DateTimeOffset now, DpopOptions options, out string error)
    {
        try
        {
            return ReadCore(compact, method, endpoint, now, options, out error);
        }
        catch (Exception exception) when (exception is FormatException or JsonException or CryptographicException or ArgumentException or InvalidOperationException)
        {
            error = "The DPoP proof is not a well-formed JWT.";
            return null;
        }
    }

    private static DpopProof? ReadCore(string compact, string method, Uri endpoint, DateTimeOffset now, DpopOptions options, out string error)
    {
        var parts = compact.Length <= MaxLength ? compact.Split('.') : [];
        if (parts.Length != 3 || parts.Any(part => part.Length == 0))
        {
            error = "The DPoP proof is not a compact JWS (RFC 9449 section 4.3 item 2).";
            return null;
        }

        using var header = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[0]), new JsonDocumentOptions { MaxDepth = 8 });
        using var payload = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]), new JsonDocumentOptions { MaxDepth = 8 });
        if (header.RootElement.ValueKind != JsonValueKind.Object || payload.RootElement.ValueKind != JsonValueKind.Object)
        {
            error = "The DPoP proof is not a well-formed JWT.";
            return null;
        }

        var head = header.RootElement;
        if (!string.Equals(String(head, "typ"), ProofType, StringComparison.OrdinalIgnoreCase))
        {
            error = "The DPoP proof's typ must be dpop+jwt (RFC 9449 section 4.3 item 4).";
            return null;
        }

        var algorithm = String(head, "alg");
        if (algorithm is null || !Algorithms.Contains(algorithm, StringComparer.Ordinal))
        {
            error = $"The DPoP proof's alg must be one of {string.Join(", ", Algorithms)} (RFC 9449 section 4.3 item 5).";
            return null;
        }

        // Note: RFC 7515 §4.1.11: a critical extension we don't understand makes the JWS invalid; we understand none.
        if (head.TryGetProperty("crit", out _))
        {
            error = "The DPoP proof names critical header parameters, which are not supported.";
            return null;
        }

        if (!head.TryGetProperty("jwk", out var jwk) || jwk.ValueKind != JsonValueKind.Object)
        {
            error = "The DPoP proof has no jwk header (RFC 9449 section 4.3 item 7).";
            return null;
        }

        if (PrivateMembers.Any(member => jwk.TryGetProperty(member, out _)))
        {
            error = "The DPoP proof's jwk must be a public key; it has private members (RFC 9449 section 4.3 item 7).";
            return null;
        }

        if (Key.From(jwk, algorithm) is not { } key)
        {
            error = "The DPoP proof's jwk is not a public key for its alg (RFC 9449 section 4.3 items 5 and 7).";
            return null;
        }

        var signingInput = Encoding.ASCII.GetBytes(string.Concat(parts[0], ".", parts[1]));
        if (!key.Verify(algorithm, signingInput, Base64Url.DecodeFromChars(parts[2])))
        {
            error = "The DPoP proof's signature does not verify with its jwk (RFC 9449 section 4.3 item 6).";
            return null;
        }

        var claims = payload.RootElement;
        if (!string.Equals(String(claims, "htm"), method, StringComparison.Ordinal))
        {
            error = "The DPoP proof's htm is not the method of this request (RFC 9449 section 4.3 item 8).";
            return null;
        }

        if (String(claims, "htu") is not { } htu || !SameUrl(htu, endpoint))
        {
            error = "The DPoP proof's htu is not the URL of this endpoint (RFC 9449 section 4.3 item 9).";
            return null;
        }

        if (!claims.TryGetProperty("iat", out var iatElement) || iatElement.ValueKind != JsonValueKind.Number
            || !iatElement.TryGetInt64(out var iat) || iat is < 0 or > 253402300799)
        {
            error = "The DPoP proof has no numeric iat (RFC 9449 section 4.2).";
            return null;
        }

        var issuedAt = DateTimeOffset.FromUnixTimeSeconds(iat);
        if (issuedAt < now - options.ProofLifetime || issuedAt > now + options.ClockSkew)
        {
            error = "The DPoP proof's iat is outside the accepted window (RFC 9449 section 4.3 item 11).";
            return null;
        }

        if (String(claims, "jti") is not { Length: > 0 and <= SingleUse.SpentIds.MaxIdLength } id)
        {
            error = $"The DPoP proof needs a jti of 1 to {SingleUse.SpentIds.MaxIdLength} characters (RFC 9449 section 4.2).";
            return null;
        }

        error = string.Empty;
        return new DpopProof(key.Thumbprint, id, issuedAt, String(claims, "nonce"), String(claims, "ath"));
    }

    /// <summary>The RFC 7638 thumbprint as a client sends it in <c>dpop_jkt</c>: 43 base64url characters.</summary>
    public static bool IsThumbprint(string value) =>
        value.Length == 43 && value.All(character => char.IsAsciiLetterOrDigit(character) || character is '-' or '_');

    /// <summary>RFC 9449 §4.2 and §7: <c>ath</c> is the base64url SHA-256 of the access token's ASCII bytes.</summary>
    public static string AccessTokenHash(string accessToken) => Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(accessToken)));

    /// <summary>
    /// RFC 9449 §4.3 item 9: <c>htu</c> names the endpoint, ignoring query and fragment, after RFC 3986 §6.2.2
    /// syntax-based normalization (case of scheme and host, percent-encoding of unreserved characters, dot
    /// segments) and §6.2.3 scheme-based normalization (the default port). The path itself is compared exactly:
    /// another case or a trailing slash names another resource. <c>System.Uri</c> performs exactly those
    /// normalizations.
    /// </summary>
    internal static bool SameUrl(string htu, Uri endpoint)
    {
        if (!Uri.TryCreate(htu, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0)
        {
            return false;
        }

        const UriComponents Compared = UriComponents.SchemeAndServer | UriComponents.Path;
        return string.Equals(uri.GetComponents(Compared, UriFormat.UriEscaped), endpoint.GetComponents(Compared, UriFormat.UriEscaped), StringComparison.Ordinal);
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>A public key read from a JWK, with its RFC 7638 thumbprint.</summary>
    private sealed class Key
    {
        private readonly ECParameters? _ec;
        private readonly RSAParameters? _rsa;

        private Key(ECParameters? ec, RSAParameters? rsa, string thumbprint)
        {
            _ec = ec;
            _rsa = rsa;
            Thumbprint = thumbprint;
        }

        public string Thumbprint { get; }

        public static Key? From(JsonElement jwk, string algorithm)
        {
            switch (String(jwk, "kty"))
            {
                case "EC":
                {
                    var (curveName, curve, size) = algorithm switch
                    {
                        "ES256" => ("P-256", ECCurve.NamedCurves.nistP256, 32),
                        "ES384" => ("P-384", ECCurve.NamedCurves.nistP384, 48),
                        _ => (null, default, 0),
                    };
                    if (curveName is null || !string.Equals(String(jwk, "crv"), curveName, StringComparison.Ordinal)
                        || Coordinate(jwk, "x", size) is not { } x || Coordinate(jwk, "y", size) is not { } y)
                    {
                        return null;
                    }

                    var parameters = new ECParameters { Curve = curve, Q = new ECPoint { X = x, Y = y } };
                    // Note: importing checks that the point is on the curve; an invalid-curve point is refused here.
                    using (ECDsa.Create(parameters))
                    {
                    }

                    // RFC 7638 §3.2: the required members only, in lexicographic order, without whitespace.
                    return new Key(parameters, null, Digest($"{{\"crv\":\"{curveName}\",\"kty\":\"EC\",\"x\":\"{String(jwk, "x")}\",\"y\":\"{String(jwk, "y")}\"}}"));
                }

                case "RSA" when algorithm is "RS256" or "PS256":
                {
                    if (String(jwk, "n") is not { } n || String(jwk, "e") is not { } e || !IsBase64Url(n) || !IsBase64Url(e))
                    {
                        return null;
                    }

                    var modulus = Base64Url.DecodeFromChars(n);
                    var exponent = Base64Url.DecodeFromChars(e);
                    // Note: RFC 7518 §3.3: RSA keys of at least 2048 bits; a leading zero byte doesn't count.
                    if (modulus.Length == 0 || modulus[0] == 0 || modulus.Length < 256 || modulus.Length > 1024 || exponent.Length is 0 or > 8)
                    {
                        return null;
                    }

                    return new Key(null, new RSAParameters { Modulus = modulus, Exponent = exponent }, Digest($"{{\"e\":\"{e}\",\"kty\":\"RSA\",\"n\":\"{n}\"}}"));
                }

                default:
                    return null;
            }
        }

        public bool Verify(string algorithm, byte[] data, byte[] signature)
        {
            if (_ec is { } ec)
            {
                using var ecdsa = ECDsa.Create(ec);
                var hash = algorithm == "ES384" ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;
                // Note: JWS ECDSA signatures are r||s of fixed size (RFC 7518 §3.4), .NET's IEEE P1363 format.
                return signature.Length == 2 * ((ecdsa.KeySize + 7) / 8) && ecdsa.VerifyData(data, signature, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            }

            using var rsa = RSA.Create(_rsa!.Value);
            var padding = algorithm == "PS256" ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
            return rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, padding);
        }

        private static byte[]? Coordinate(JsonElement jwk, string name, int size) =>
            String(jwk, name) is { } value && IsBase64Url(value) && Base64Url.DecodeFromChars(value) is { } bytes && bytes.Length == size ? bytes : null;

        private static bool IsBase64Url(string value) =>
            value.Length is > 0 and <= 1400 && value.All(character => char.IsAsciiLetterOrDigit(character) || character is '-' or '_');

        private static string Digest(string canonicalJwk) => Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalJwk)));
    }
}
