using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Microsoft.Net.Http.Headers;

namespace ResourceApi;

/// <summary>
/// The API as a DPoP protected resource (RFC 9449 §7), on top of JwtBearer: it takes
/// <c>Authorization: DPoP &lt;token&gt;</c> as well as Bearer; a token bound to a key (<c>cnf.jkt</c>) is accepted
/// only with the DPoP scheme and a proof signed by that key for this method and URL, whose <c>ath</c> is the
/// token's hash; and a bound token presented as Bearer is refused (§7.2), so a stolen one is useless without
/// the client's private key. Unbound tokens keep working as Bearer tokens.
/// </summary>
internal sealed class DpopProofs(TimeProvider clock)
{
    public const string Scheme = "DPoP";

    public static readonly string[] Algorithms = ["ES256", "ES384", "RS256", "PS256"];

    /// <summary>How old a proof may be; its jti is remembered for as long.</summary>
    public static readonly TimeSpan ProofLifetime = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(5);
    private static readonly string[] PrivateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    private const string ErrorItem = "dpop.error";
    private const string SchemeItem = "dpop.scheme";

    // Note: one process remembers its own proofs; an API on several nodes would share this set (a cache or a table).
    private readonly ConcurrentDictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);

    /// <summary>JwtBearer reads only "Bearer"; a DPoP-scheme token is taken here and remembered as such.</summary>
    public static Task ReadToken(MessageReceivedContext context)
    {
        string header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith(Scheme + " ", StringComparison.OrdinalIgnoreCase))
        {
            context.Token = header[(Scheme.Length + 1)..].Trim();
            context.HttpContext.Items[SchemeItem] = true;
        }

        return Task.CompletedTask;
    }

    /// <summary>After the token itself was validated: the binding, then the proof.</summary>
    public async Task CheckAsync(TokenValidatedContext context)
    {
        var http = context.HttpContext;
        var presentedAsDpop = http.Items.ContainsKey(SchemeItem);
        var boundKey = BoundKey(context.Principal);
        var error = (boundKey, presentedAsDpop) switch
        {
            (null, false) => null,
            (null, true) => "invalid_token",
            (not null, false) => "invalid_token",
            _ => await ProofProblemAsync(http, boundKey, (context.SecurityToken as JsonWebToken)?.EncodedToken) is null ? null : "invalid_dpop_proof",
        };

        if (error is not null)
        {
            http.Items[ErrorItem] = error;
            context.Fail(error == "invalid_token" ? "The token's binding does not match the authorization scheme." : "The DPoP proof is not valid for this token and request.");
        }
    }

    /// <summary>RFC 9449 §7.1: a DPoP refusal is 401 with a DPoP challenge that lists the accepted algorithms.</summary>
    public static Task ChallengeAsync(JwtBearerChallengeContext context)
    {
        var http = context.HttpContext;
        if (!http.Items.TryGetValue(ErrorItem, out var error) && !http.Items.ContainsKey(SchemeItem))
        {
            return Task.CompletedTask;
        }

        context.HandleResponse();
        http.Response.StatusCode = StatusCodes.Status401Unauthorized;
        var parameters = error is string code ? $"error=\"{code}\", " : string.Empty;
        http.Response.Headers.Append(HeaderNames.WWWAuthenticate, $"{Scheme} {parameters}algs=\"{string.Join(' ', Algorithms)}\"");
        return Task.CompletedTask;
    }

    private async Task<string?> ProofProblemAsync(HttpContext http, string boundKey, string? accessToken)
    {
        var headers = http.Request.Headers[Scheme];
        if (accessToken is null || headers.Count != 1 || string.IsNullOrEmpty(headers[0]) || headers[0]!.Length > 8192)
        {
            return "exactly one DPoP header";
        }

        JsonWebToken proof;
        JsonWebKey key;
        try
        {
            proof = new JsonWebToken(headers[0]);
            if (!proof.TryGetHeaderValue<JsonElement>("jwk", out var jwk) || jwk.ValueKind != JsonValueKind.Object
                || PrivateMembers.Any(member => jwk.TryGetProperty(member, out _)))
            {
                return "a public jwk";
            }

            key = new JsonWebKey(jwk.GetRawText());
        }
        catch (Exception exception) when (exception is ArgumentException or SecurityTokenException or JsonException)
        {
            return "a well-formed proof";
        }

        if (key.Kty is not ("EC" or "RSA"))
        {
            return "an asymmetric key";
        }

        // Note: the proof proves possession only if its signature verifies with the key in its own header.
        var validation = await new JsonWebTokenHandler().ValidateTokenAsync(proof, new TokenValidationParameters
        {
            IssuerSigningKey = key,
            ValidTypes = ["dpop+jwt"],
            ValidAlgorithms = Algorithms,
            ValidateIssuer = false,
            ValidateAudience = false,
            ValidateLifetime = false,
            RequireExpirationTime = false,
            RequireSignedTokens = true,
        });
        if (!validation.IsValid)
        {
            return "a valid signature, typ and alg";
        }

        var now = clock.GetUtcNow();
        var issuedAt = proof.TryGetPayloadValue<long>("iat", out var iat) ? DateTimeOffset.FromUnixTimeSeconds(iat) : DateTimeOffset.MinValue;
        var url = new Uri(UriHelper.BuildAbsolute(http.Request.Scheme, http.Request.Host, http.Request.PathBase, http.Request.Path));
        if (!proof.TryGetPayloadValue<string>("htm", out var htm) || htm != http.Request.Method
            || !proof.TryGetPayloadValue<string>("htu", out var htu) || !SameUrl(htu, url)
            || issuedAt < now - ProofLifetime || issuedAt > now + ClockSkew
            || !proof.TryGetPayloadValue<string>("ath", out var ath) || ath != Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(accessToken))))
        {
            return "htm, htu, iat and ath of this request";
        }

        if (Base64UrlEncoder.Encode(key.ComputeJwkThumbprint()) != boundKey)
        {
            return "the key the token is bound to";
        }

        if (!proof.TryGetPayloadValue<string>("jti", out var jti) || string.IsNullOrEmpty(jti) || !Spend(boundKey + ":" + jti, issuedAt + ProofLifetime, now))
        {
            return "a proof not seen before";
        }

        return null;
    }

    private bool Spend(string id, DateTimeOffset until, DateTimeOffset now)
    {
        foreach (var (seen, expiry) in _seen)
        {
            if (expiry < now)
            {
                _seen.TryRemove(seen, out _);
            }
        }

        return _seen.TryAdd(id, until);
    }

    /// <summary>RFC 9449 §4.3 item 9: the request's URL, ignoring query and fragment, after RFC 3986 normalization.</summary>
    private static bool SameUrl(string htu, Uri url)
    {
        const UriComponents Compared = UriComponents.SchemeAndServer | UriComponents.Path;
        return Uri.TryCreate(htu, UriKind.Absolute, out var uri) && uri.UserInfo.Length == 0
            && uri.GetComponents(Compared, UriFormat.UriEscaped) == url.GetComponents(Compared, UriFormat.UriEscaped);
    }

    private static string? BoundKey(ClaimsPrincipal? principal)
    {
        if (principal?.FindFirst("cnf")?.Value is not { Length: > 0 } cnf)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(cnf);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("jkt", out var jkt) && jkt.ValueKind == JsonValueKind.String
                ? jkt.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
