using System.Buffers.Text;
using System.Collections.Frozen;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace OAuthServer.Protocol.Assertions;

/// <summary>
/// The public keys a private_key_jwt client signs its assertions with (RFC 7517 JWKS, RFC 7591 <c>jwks</c> /
/// <c>jwks_uri</c>): what is accepted, from registration and from a jwks_uri alike, and the one canonical form kept.
/// </summary>
internal static class ClientKeySet
{
    public const int MaxKeys = 10;
    public const int MaxJwksLength = 32 * 1024;
    public const int MaxJwksUriLength = 2000;
    public const int MinRsaBits = 2048;
    public const int MaxRsaBits = 8192;

    /// <summary>
    /// The assertion algorithms accepted, and advertised. Note: asymmetric only: "none" proves nothing, and an HS*
    /// assertion would be "signed" with whatever the server uses as its secret, the public key in a key-confusion attack.
    /// </summary>
    public static readonly FrozenSet<string> SigningAlgorithms = new[]
    {
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
    }.ToFrozenSet(StringComparer.Ordinal);

    // Note: RFC 7518 §6.3.2 and §6.2.2.1: the private parts of RSA and EC keys, and "k" of a symmetric key. A client
    // that sends one has leaked its key to us (and to every log and backup in between): refused, never stored.
    private static readonly string[] PrivateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

    // Note: a certificate chain would be a second description of the key that the signature check could prefer
    // over n/e or x/y; one description is enough, so none is accepted.
    private static readonly string[] CertificateMembers = ["x5c", "x5u", "x5t", "x5t#S256"];

    private static readonly FrozenDictionary<string, (int Length, ECCurve Curve, string Algorithm)> Curves = new Dictionary<string, (int, ECCurve, string)>
    {
        ["P-256"] = (32, ECCurve.NamedCurves.nistP256, "ES256"),
        ["P-384"] = (48, ECCurve.NamedCurves.nistP384, "ES384"),
        ["P-521"] = (66, ECCurve.NamedCurves.nistP521, "ES512"),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>
    /// Checks a JWKS and returns it in canonical form (only the public members this server reads), or why it is refused.
    /// </summary>
    public static (string? Canonical, string? Problem) Parse(string json)
    {
        if (Encoding.UTF8.GetByteCount(json) > MaxJwksLength)
        {
            return (null, $"jwks must be at most {MaxJwksLength} bytes.");
        }

        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Array)
            {
                return (null, "jwks must be a JSON Web Key Set: an object with a \"keys\" array.");
            }

            var count = keys.GetArrayLength();
            if (count is 0 or > MaxKeys)
            {
                return (null, $"jwks must have between 1 and {MaxKeys} keys.");
            }

            var kids = new HashSet<string>(StringComparer.Ordinal);
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteStartArray("keys");
                var index = 0;
                foreach (var key in keys.EnumerateArray())
                {
                    if (CheckKey(key, index, count, kids, writer) is { } problem)
                    {
                        return (null, problem);
                    }

                    index++;
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            return (Encoding.UTF8.GetString(buffer.ToArray()), null);
        }
        catch (JsonException)
        {
            return (null, "jwks is not valid JSON.");
        }
    }

    private static string? CheckKey(JsonElement key, int index, int count, HashSet<string> kids, Utf8JsonWriter writer)
    {
        var at = $"jwks.keys[{index}]";
        if (key.ValueKind != JsonValueKind.Object)
        {
            return $"{at} must be a JSON Web Key object.";
        }

        if (PrivateMembers.FirstOrDefault(member => key.TryGetProperty(member, out _)) is { } secret)
        {
            return secret == "k"
                ? $"{at} is a symmetric key: register public keys only (RSA or EC)."
                : $"{at} contains the private member \"{secret}\": register the public key only.";
        }

        if (CertificateMembers.FirstOrDefault(member => key.TryGetProperty(member, out _)) is { } certificate)
        {
            return $"{at} has \"{certificate}\": give the key as n/e (RSA) or crv/x/y (EC), without certificates.";
        }

        var kty = Text(key, "kty");
        var kid = Text(key, "kid");
        var use = Text(key, "use");
        var alg = Text(key, "alg");
        if (kid is { Length: 0 or > 200 } || (kid is null && count > 1))
        {
            return $"{at} needs a kid of 1 to 200 characters (every key of a set with several keys has one).";
        }

        if (kid is not null && !kids.Add(kid))
        {
            return $"{at} repeats the kid '{kid}': kids must be unique.";
        }

        if (use is not null and not "sig")
        {
            return $"{at} has use '{use}': only signing keys (use \"sig\") authenticate a client.";
        }

        writer.WriteStartObject();
        writer.WriteString("kty", kty);
        if (kid is not null)
        {
            writer.WriteString("kid", kid);
        }

        writer.WriteString("use", "sig");
        if (alg is not null)
        {
            writer.WriteString("alg", alg);
        }

        var problem = kty switch
        {
            "RSA" => CheckRsa(key, at, alg, writer),
            "EC" => CheckEc(key, at, alg, writer),
            "oct" => $"{at} is a symmetric key: register public keys only (RSA or EC).",
            _ => $"{at} has kty '{kty}': only RSA and EC keys are supported.",
        };
        writer.WriteEndObject();
        return problem;
    }

    private static string? CheckRsa(JsonElement key, string at, string? alg, Utf8JsonWriter writer)
    {
        if (alg is not null && !(alg.StartsWith("RS", StringComparison.Ordinal) || alg.StartsWith("PS", StringComparison.Ordinal)) || alg is not null && !SigningAlgorithms.Contains(alg))
        {
            return $"{at} has alg '{alg}': an RSA key signs with RS256, RS384, RS512, PS256, PS384 or PS512.";
        }

        if (Bytes(key, "n") is not { } modulus || Bytes(key, "e") is not { Length: > 0 and <= 8 } exponent)
        {
            return $"{at} needs the RSA members n and e, base64url.";
        }

        var bits = BitLength(modulus);
        if (bits is < MinRsaBits or > MaxRsaBits)
        {
            return $"{at} is an RSA key of {bits} bits: between {MinRsaBits} and {MaxRsaBits} bits are accepted.";
        }

        try
        {
            using var rsa = RSA.Create();
            rsa.ImportParameters(new RSAParameters { Modulus = modulus.AsSpan(modulus.Length - (bits + 7) / 8).ToArray(), Exponent = exponent });
        }
        catch (CryptographicException)
        {
            return $"{at} is not a usable RSA public key.";
        }

        writer.WriteString("n", Text(key, "n"));
        writer.WriteString("e", Text(key, "e"));
        return null;
    }

    private static string? CheckEc(JsonElement key, string at, string? alg, Utf8JsonWriter writer)
    {
        var crv = Text(key, "crv");
        if (crv is null || !Curves.TryGetValue(crv, out var curve))
        {
            return $"{at} has crv '{crv}': EC keys must be on P-256, P-384 or P-521.";
        }

        if (alg is not null && alg != curve.Algorithm)
        {
            return $"{at} has alg '{alg}': a {crv} key signs with {curve.Algorithm}.";
        }

        if (Bytes(key, "x") is not { } x || Bytes(key, "y") is not { } y || x.Length != curve.Length || y.Length != curve.Length)
        {
            return $"{at} needs the EC members x and y of {curve.Length} bytes each, base64url.";
        }

        try
        {
            // Note: importing checks that the point is on the curve (an invalid-curve point would leak nothing
            // here, since we only verify, but a key that can't verify anything is a registration mistake).
            using var ecdsa = ECDsa.Create(new ECParameters { Curve = curve.Curve, Q = new ECPoint { X = x, Y = y } });
        }
        catch (CryptographicException)
        {
            return $"{at} is not a point on {crv}.";
        }

        writer.WriteString("crv", crv);
        writer.WriteString("x", Text(key, "x"));
        writer.WriteString("y", Text(key, "y"));
        return null;
    }

    /// <summary>
    /// What is wrong with a jwks_uri as a value, before anyone resolves it: it must be an absolute https URL (http
    /// only in Development), without credentials or fragment, and outside Development not name a private address.
    /// </summary>
    public static string? JwksUriProblem(string value, bool development)
    {
        if (value.Length > MaxJwksUriLength || !Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.IsFile || uri.IsUnc)
        {
            return $"jwks_uri must be an absolute URL of at most {MaxJwksUriLength} characters.";
        }

        if (uri.Scheme != Uri.UriSchemeHttps && !(development && uri.Scheme == Uri.UriSchemeHttp))
        {
            return "jwks_uri must use https.";
        }

        if (!string.IsNullOrEmpty(uri.UserInfo) || !string.IsNullOrEmpty(uri.Fragment))
        {
            return "jwks_uri must not carry credentials or a fragment.";
        }

        if (!development && (uri.IsLoopback || (IPAddress.TryParse(uri.DnsSafeHost, out var address) && !IsPublic(address))))
        {
            return "jwks_uri must not point at a loopback, private or link-local address.";
        }

        return null;
    }

    /// <summary>
    /// Whether an address is on the public internet. Note: a jwks_uri is fetched by this server, so one that reaches
    /// loopback, a private network or the cloud metadata service (169.254.169.254) would let a client make the
    /// server read inside its own network (SSRF).
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return false;
        }

        var bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return !(bytes[0] is 0 or 10 or 127 or >= 224
                || (bytes[0] == 100 && bytes[1] is >= 64 and <= 127)
                || (bytes[0] == 169 && bytes[1] == 254)
                || (bytes[0] == 172 && bytes[1] is >= 16 and <= 31)
                || (bytes[0] == 192 && bytes[1] == 168)
                || (bytes[0] == 192 && bytes[1] == 0 && bytes[2] == 0)
                || (bytes[0] == 198 && bytes[1] is 18 or 19));
        }

        return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || address.IsIPv6UniqueLocal
            || (bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b));
    }

    private static string? Text(JsonElement key, string name) =>
        key.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static byte[]? Bytes(JsonElement key, string name)
    {
        if (Text(key, name) is not { Length: > 0 and <= 2048 } text)
        {
            return null;
        }

        try
        {
            return Base64Url.DecodeFromChars(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static int BitLength(byte[] value)
    {
        var first = Array.FindIndex(value, item => item != 0);
        return first < 0 ? 0 : ((value.Length - first) * 8) - System.Numerics.BitOperations.LeadingZeroCount((uint)value[first]) + 24;
    }
}
