using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// A client's DPoP key (RFC 9449): makes proofs the way a client library does, with Microsoft.IdentityModel, and
/// lets a test vary any part of one (header, claims, signature) to perform an attack.
/// </summary>
public sealed class DpopKey : IDisposable
{
    private readonly AsymmetricAlgorithm _key;
    private readonly SigningCredentials _credentials;

    private DpopKey(AsymmetricAlgorithm key, SecurityKey securityKey, string algorithm)
    {
        _key = key;
        Algorithm = algorithm;
        _credentials = new SigningCredentials(securityKey, algorithm);
        var jwk = JsonWebKeyConverter.ConvertFromSecurityKey(securityKey);
        PublicJwk = jwk.Kty == "EC"
            ? new Dictionary<string, object> { ["kty"] = "EC", ["crv"] = jwk.Crv, ["x"] = jwk.X, ["y"] = jwk.Y }
            : new Dictionary<string, object> { ["kty"] = "RSA", ["n"] = jwk.N, ["e"] = jwk.E };
        PrivateJwk = jwk.Kty == "EC"
            ? new Dictionary<string, object>(PublicJwk) { ["d"] = jwk.D }
            : new Dictionary<string, object>(PublicJwk) { ["d"] = jwk.D, ["p"] = jwk.P, ["q"] = jwk.Q };
        Thumbprint = Base64UrlEncoder.Encode(new JsonWebKey(JsonSerializer.Serialize(PublicJwk)).ComputeJwkThumbprint());
    }

    public static DpopKey Es256()
    {
        var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new DpopKey(ec, new ECDsaSecurityKey(ec), SecurityAlgorithms.EcdsaSha256);
    }

    public static DpopKey Rs256()
    {
        var rsa = RSA.Create(2048);
        return new DpopKey(rsa, new RsaSecurityKey(rsa), SecurityAlgorithms.RsaSha256);
    }

    public string Algorithm { get; }

    /// <summary>The RFC 7638 thumbprint, computed by IdentityModel (what dpop_jkt and cnf.jkt carry).</summary>
    public string Thumbprint { get; }

    public IReadOnlyDictionary<string, object> PublicJwk { get; }

    public IReadOnlyDictionary<string, object> PrivateJwk { get; }

    /// <summary>A valid proof for <paramref name="method"/> <paramref name="url"/>; the optional arguments change parts of it.</summary>
    public string Proof(
        string method, string url, string? accessToken = null, string? nonce = null, string? jti = null, DateTimeOffset? issuedAt = null,
        Action<Dictionary<string, object>>? header = null, Action<Dictionary<string, object>>? claims = null)
    {
        var headerValues = new Dictionary<string, object> { ["typ"] = "dpop+jwt", ["jwk"] = PublicJwk };
        header?.Invoke(headerValues);
        var claimValues = new Dictionary<string, object>
        {
            ["jti"] = jti ?? Guid.NewGuid().ToString("N"),
            ["htm"] = method,
            ["htu"] = url,
            ["iat"] = (issuedAt ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds(),
        };
        if (accessToken is not null)
        {
            claimValues["ath"] = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(accessToken)));
        }

        if (nonce is not null)
        {
            claimValues["nonce"] = nonce;
        }

        claims?.Invoke(claimValues);
        // Note: IdentityModel writes typ from TokenType (JWT when it is null), so a removed typ reads as JWT.
        var typ = headerValues.Remove("typ", out var value) ? (string)value : null;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Claims = claimValues,
            TokenType = typ,
            AdditionalHeaderClaims = headerValues,
            SigningCredentials = _credentials,
        });
    }

    /// <summary>An unsigned token (alg none) with a valid-looking header and claims.</summary>
    public string UnsignedProof(string method, string url)
    {
        var header = Base64UrlEncoder.Encode(JsonSerializer.Serialize(new Dictionary<string, object> { ["typ"] = "dpop+jwt", ["alg"] = "none", ["jwk"] = PublicJwk }));
        var body = Base64UrlEncoder.Encode(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["jti"] = Guid.NewGuid().ToString("N"), ["htm"] = method, ["htu"] = url, ["iat"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        }));
        return $"{header}.{body}.";
    }

    /// <summary>A proof signed with HMAC (HS256) under a key the sender chose, with this key's public jwk.</summary>
    public string SymmetricProof(string method, string url) =>
        new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Claims = new Dictionary<string, object>
            {
                ["jti"] = Guid.NewGuid().ToString("N"), ["htm"] = method, ["htu"] = url, ["iat"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            },
            TokenType = "dpop+jwt",
            AdditionalHeaderClaims = new Dictionary<string, object> { ["jwk"] = PublicJwk },
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(32)), SecurityAlgorithms.HmacSha256),
        });

    public void Dispose() => _key.Dispose();
}
