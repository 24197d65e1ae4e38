using System.Text.Json.Serialization;
using Microsoft.IdentityModel.Tokens;

namespace OAuthServer.Keys;

/// <summary>What a key file's sidecar says about it. Every field is optional.</summary>
internal sealed record KeyMetadata
{
    [JsonPropertyName("kid")]
    public string? Kid { get; init; }

    /// <summary>
    /// Optional: the JWA algorithm (RFC 7518) the key is for. It must match the key: RS256 for an RSA signing key,
    /// ES256 for an EC P-256 one, RSA-OAEP for an encryption key. Without it, the key's type decides.
    /// </summary>
    [JsonPropertyName("alg")]
    public string? Alg { get; init; }

    /// <summary>Published from the moment the file exists; used only from this instant (UTC).</summary>
    [JsonPropertyName("not_before")]
    public DateTime? NotBefore { get; init; }

    /// <summary>Not used after this instant; published for one more token lifetime.</summary>
    [JsonPropertyName("not_after")]
    public DateTime? NotAfter { get; init; }

    /// <summary>Set by <c>keys retire</c>: not used from then on; published for one more token lifetime.</summary>
    [JsonPropertyName("retired_at")]
    public DateTime? RetiredAt { get; init; }
}

internal enum KeyState
{
    /// <summary>Published, not yet used: its activation is in the future.</summary>
    Next,

    /// <summary>The key that signs (or encrypts) now.</summary>
    Active,

    /// <summary>Usable, but a newer key is active: kept for tokens it made.</summary>
    Standby,

    /// <summary>Retired or past its expiry: published only until the tokens it made have expired.</summary>
    Retiring,

    /// <summary>Retired or expired longer than a token lifetime ago: no longer published or used.</summary>
    Gone,
}

/// <summary>A key file the loader could not use, and why (never any of its content).</summary>
internal sealed record SkippedKeyFile(string File, string Reason)
{
    public override string ToString() => $"{File}: {Reason}";
}

/// <param name="Algorithm">RS256 or ES256 for a signing key (RFC 7518 §3.1), RSA-OAEP for an encryption key.</param>
internal sealed record KeyEntry(string File, string Kid, AsymmetricSecurityKey Key, string Algorithm, KeyMetadata Metadata)
{
    public bool UsableAt(DateTime now) =>
        (Metadata.NotBefore is null || Metadata.NotBefore <= now)
        && (Metadata.NotAfter is null || Metadata.NotAfter > now)
        && Metadata.RetiredAt is null;

    public bool GoneAt(DateTime now, TimeSpan grace) =>
        (Metadata.RetiredAt is { } retired && retired + grace <= now)
        || (Metadata.NotAfter is { } expiry && expiry + grace <= now);
}
