using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.IdentityModel.Tokens;

namespace OAuthServer.Keys;

/// <summary>
/// The keys that sign access and identity tokens (RSA for RS256, the default, or EC P-256 for ES256, chosen per
/// key) and the RSA keys that encrypt codes and refresh tokens, read from the key folder. Every key has a stable
/// <c>kid</c> (its RFC 7638 JWK thumbprint unless its sidecar names one), so every node publishes the same JWKS.
/// Of the keys usable now, the one activated last (or, without dates, the file whose name sorts last) is active;
/// the others stay published so that tokens they made keep validating. A file that can't be used is skipped
/// (see <see cref="Skipped"/>); the other keys still load.
/// </summary>
internal sealed partial class KeyRing
{
    public const string SigningFolder = "signing";
    public const string EncryptionFolder = "encryption";
    /// <summary>
    /// The size of a new RSA key. 2048 bits is RFC 7518's minimum, what the certified peers sign with by default,
    /// and accepted by NIST SP 800-57 through 2030; our signing keys rotate every 90 days and access tokens live
    /// minutes, and a 2048-bit signature costs a sixth of a 3072-bit one (docs/benchmarks.md, "Key size").
    /// <c>keys new --size 3072</c> (or 4096) stays available, and keys of any allowed size keep working.
    /// </summary>
    public const int RsaKeySize = 2048;

    /// <summary>The sizes <c>keys new --size</c> accepts for an RSA key.</summary>
    public static readonly IReadOnlyList<int> RsaKeySizes = [2048, 3072, 4096];

    /// <summary>RFC 7518 §3.3: an RSA key used with RS256 must be at least 2048 bits (IdentityModel refuses to sign with less).</summary>
    public const int MinimumRsaKeySize = 2048;

    /// <summary>What <c>keys new --alg</c> and a sidecar's <c>alg</c> may say for a signing key.</summary>
    public static readonly IReadOnlyList<string> SigningAlgorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256];

    private volatile Snapshot _current;

    public KeyRing(string path, bool generateMissing)
    {
        Path = path;
        if (generateMissing)
        {
            GenerateIfEmpty(System.IO.Path.Combine(path, SigningFolder));
            GenerateIfEmpty(System.IO.Path.Combine(path, EncryptionFolder));
        }

        _current = Snapshot.Load(path);
    }

    public string Path { get; }

    public IReadOnlyList<KeyEntry> Signing => _current.Signing;

    public IReadOnlyList<KeyEntry> Encryption => _current.Encryption;

    /// <summary>The files of the current set that were skipped, with the reason; they never carry key material.</summary>
    public IReadOnlyList<SkippedKeyFile> Skipped => _current.Skipped;

    /// <summary>A fingerprint of the files on disk; a change means the folder must be read again.</summary>
    public string Fingerprint => _current.Fingerprint;

    /// <summary>
    /// Reads the folder again. A bad file is skipped on its own (<see cref="Skipped"/>), so it never blocks a good
    /// change beside it; but a set without a usable signing and encryption key never replaces a good one.
    /// </summary>
    public bool TryReload(DateTime now, out string? problem)
    {
        try
        {
            var next = Snapshot.Load(Path);
            if (!next.Signing.Any(entry => entry.UsableAt(now)) || !next.Encryption.Any(entry => entry.UsableAt(now)))
            {
                problem = "the key folder has no usable signing or encryption key"
                    + (next.Skipped.Count > 0 ? "; skipped: " + string.Join("; ", next.Skipped) : string.Empty);
                return false;
            }

            _current = next;
            problem = null;
            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or InvalidOperationException or JsonException)
        {
            problem = exception.Message;
            return false;
        }
    }

    /// <summary>
    /// For the server at start-up: the folder must hold at least one key of each kind that loads. Bad files are
    /// skipped, not fatal (see <see cref="KeyRingMonitor.StartAsync"/>), but a ring with nothing to sign or encrypt
    /// with can't serve: that stops start-up and names the skipped files.
    /// </summary>
    public KeyRing EnsureUsable()
    {
        var missing = new[] { (SigningFolder, Signing), (EncryptionFolder, Encryption) }.Where(kind => kind.Item2.Count == 0).Select(kind => kind.Item1).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException(
                $"Keys: no {string.Join(" or ", missing)} key in {Path} could be loaded"
                + (Skipped.Count > 0 ? "; skipped: " + string.Join("; ", Skipped) : "."));
        }

        return this;
    }

    public static string CurrentFingerprint(string path) => Snapshot.FingerprintOf(path);

    /// <summary>The keys in the order OpenIddict should get them: the active one first, gone ones left out.</summary>
    public static IReadOnlyList<KeyEntry> Ordered(IReadOnlyList<KeyEntry> entries, DateTime now, TimeSpan grace) =>
        [.. entries.Where(entry => !entry.GoneAt(now, grace))
            .OrderByDescending(entry => entry.UsableAt(now))
            .ThenByDescending(entry => entry.UsableAt(now) ? entry.Metadata.NotBefore ?? DateTime.MinValue : DateTime.MinValue)
            .ThenByDescending(entry => System.IO.Path.GetFileName(entry.File), StringComparer.Ordinal)];

    public static KeyState StateOf(KeyEntry entry, IReadOnlyList<KeyEntry> entries, DateTime now, TimeSpan grace)
    {
        if (entry.GoneAt(now, grace))
        {
            return KeyState.Gone;
        }

        if (entry.Metadata.RetiredAt is not null || entry.Metadata.NotAfter <= now)
        {
            return KeyState.Retiring;
        }

        if (!entry.UsableAt(now))
        {
            return KeyState.Next;
        }

        return Ordered(entries, now, grace)[0] == entry ? KeyState.Active : KeyState.Standby;
    }

    /// <summary>Names what is missing from a key folder, or returns nothing when it is usable.</summary>
    public static IEnumerable<string> Problems(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            yield return "Keys:Path is not set: mount the signing and encryption keys and point Keys:Path at them.";
            yield break;
        }

        foreach (var folder in new[] { SigningFolder, EncryptionFolder })
        {
            var full = System.IO.Path.Combine(path, folder);
            if (!Directory.Exists(full) || !Directory.GetFiles(full).Any(Snapshot.IsKeyFileName))
            {
                yield return $"Keys:Path has no {folder} key: put a PKCS#8 PEM key (or a certificate with its key) in {full}/.";
            }
        }
    }

    private static readonly JsonSerializerOptions SidecarJson = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
}
