using System.Net;
using System.Text.Json;

namespace OAuthServer.Benchmarks;

/// <summary>
/// Before anything is measured, one look at what a server really issues, so that ours and the peer are compared
/// doing the same work: the client_credentials access token and a refresh's tokens (JOSE alg and typ, audience,
/// the size of the RSA key that signed them, from the JWKS), that the refresh token rotated, and that the used
/// one, presented again, is refused. A server that does not rotate or accepts the replay stops the run. Only
/// header and claim names are printed, never a token.
/// </summary>
internal static class TokenCheck
{
    public static async Task<string> DescribeAsync(string server, ProtocolClient client, string refreshToken, CancellationToken cancellationToken)
    {
        var keys = JsonDocument.Parse(await client.GetBytesAsync("/.well-known/jwks.json", cancellationToken)).RootElement.Clone();

        var (ccStatus, cc) = await client.ClientCredentialsResponseAsync(cancellationToken);
        Require(server, ccStatus == HttpStatusCode.OK, $"client_credentials answered {(int)ccStatus}");
        var ccToken = Jwt(server, "client_credentials access token", cc, "access_token", keys);

        var (refreshStatus, refreshed) = await client.RefreshResponseAsync(refreshToken, cancellationToken);
        Require(server, refreshStatus == HttpStatusCode.OK, $"refresh answered {(int)refreshStatus}");
        var next = refreshed.TryGetProperty("refresh_token", out var value) ? value.GetString() : null;
        Require(server, next is not null && next != refreshToken, "the refresh did not rotate the refresh token");
        var accessToken = Jwt(server, "refresh access token", refreshed, "access_token", keys);
        var idToken = refreshed.TryGetProperty("id_token", out _) ? Jwt(server, "refresh id_token", refreshed, "id_token", keys) : "none";

        // RFC 9700 §4.14.2: the redeemed refresh token, presented again, must be refused.
        var (replayStatus, replay) = await client.RefreshResponseAsync(refreshToken, cancellationToken);
        var replayError = replay.ValueKind == JsonValueKind.Object && replay.TryGetProperty("error", out var error) ? error.GetString() : null;
        Require(server, replayStatus == HttpStatusCode.BadRequest && replayError == "invalid_grant",
            $"the replayed refresh token was answered {(int)replayStatus} {replayError}");

        return $"{server} tokens: client_credentials {ccToken}; refresh: access {accessToken}, id_token {idToken}, " +
            $"refresh token rotated ({(next!.Contains('.', StringComparison.Ordinal) ? "JWT-shaped" : "opaque")}, {next.Length} chars), replay refused 400 invalid_grant";
    }

    // "RS256 typ=at+jwt aud=https://api/ key 2048 bits": the token's header, audience and signing key size.
    private static string Jwt(string server, string what, JsonElement response, string property, JsonElement keys)
    {
        var token = response.TryGetProperty(property, out var value) ? value.GetString() : null;
        var parts = token?.Split('.');
        Require(server, parts is { Length: 3 }, $"the {what} is not a JWS compact JWT");
        var header = Decode(parts![0]);
        var payload = Decode(parts[1]);
        var alg = header.TryGetProperty("alg", out var a) ? a.GetString() : null;
        var typ = header.TryGetProperty("typ", out var t) ? t.GetString() : "none";
        var kid = header.TryGetProperty("kid", out var k) ? k.GetString() : null;
        var audience = payload.TryGetProperty("aud", out var aud)
            ? aud.ValueKind == JsonValueKind.Array ? string.Join(',', aud.EnumerateArray().Select(item => item.GetString())) : aud.GetString()
            : "none";
        var bits = keys.GetProperty("keys").EnumerateArray()
            .Where(key => kid is null || (key.TryGetProperty("kid", out var id) && id.GetString() == kid))
            .Select(key => key.TryGetProperty("n", out var n) ? Base64UrlDecode(n.GetString()!).SkipWhile(b => b == 0).Count() * 8 : 0)
            .FirstOrDefault();
        return $"{alg} typ={typ} aud={audience} key {bits} bits";
    }

    private static JsonElement Decode(string part) => JsonDocument.Parse(Base64UrlDecode(part)).RootElement.Clone();

    private static byte[] Base64UrlDecode(string value)
    {
        var base64 = value.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '='));
    }

    private static void Require(string server, bool condition, string problem)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"{server}: {problem}; the comparison would not be of the same work");
        }
    }
}
