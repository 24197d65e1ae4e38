using System.CommandLine;
using System.CommandLine.Parsing;
using System.Data.Common;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.Admin;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Keys;
using OAuthServer.Protocol;

namespace OAuthServer.Cli;

/// <summary>
/// <c>keys new|list|retire</c>: key rotation without downtime. A new key is published (JWKS) at once and signs
/// only from its activation; a retired key stops signing at once and stays published for one more token
/// lifetime. Running nodes pick the change up within Keys:ReloadInterval. <c>new</c> and <c>retire</c> need the
/// database: each writes an audit row and a security event.
/// </summary>
internal static class KeysCommands
{
    /// <summary>
    /// How long a new key waits by default when a key of its kind is already in use. Resource servers cache the
    /// JWKS for longer than our Cache-Control says: Microsoft.IdentityModel's ConfigurationManager refreshes
    /// metadata only every 12 hours by default, whatever the max-age. A day covers such libraries.
    /// </summary>
    public static readonly TimeSpan DefaultActivation = TimeSpan.FromHours(24);

    public static Command Command(IServiceProvider services, TextWriter output, TextWriter error)
    {
        var activateIn = new Option<TimeSpan?>("--activate-in")
        {
            Description = "Publish now, start signing after this long: 30m, 24h, 90d or d.hh:mm:ss (default 24h; 0 for the first key).",
            CustomParser = ParseDuration,
        };
        var lifetime = new Option<TimeSpan?>("--lifetime") { Description = "Stop signing this long after activation (e.g. 90d).", CustomParser = ParseDuration };
        var use = new Option<string>("--use")
        {
            Description = "signing (default), encryption, or data-protection (the certificate that encrypts the cookie key ring in the database).",
            DefaultValueFactory = _ => KeyRing.SigningFolder,
        };
        use.AcceptOnlyFromAmong(KeyRing.SigningFolder, KeyRing.EncryptionFolder, DataProtectionKeyring.Folder);
        var algorithm = new Option<string>("--alg") { Description = "RS256 (default) or ES256 (EC P-256); signing keys only.", DefaultValueFactory = _ => SecurityAlgorithms.RsaSha256 };
        algorithm.AcceptOnlyFromAmong([.. KeyRing.SigningAlgorithms]);
        var size = new Option<int>("--size") { Description = "RSA key size in bits: 2048 (default), 3072 or 4096. Not for ES256.", DefaultValueFactory = _ => KeyRing.RsaKeySize };
        size.AcceptOnlyFromAmong([.. KeyRing.RsaKeySizes.Select(bits => bits.ToString(CultureInfo.InvariantCulture))]);
        var force = new Option<bool>("--force") { Description = "Allow an activation sooner than resource servers can have fetched the key (emergency rotation)." };

        var create = new Command("new", "Write a new key into Keys:Path.") { activateIn, lifetime, use, algorithm, size, force };
        create.SetAction(async (parse, cancellationToken) =>
        {
            var kind = parse.GetValue(use)!;
            var alg = parse.GetValue(algorithm)!;
            if (kind == KeyRing.EncryptionFolder && alg != SecurityAlgorithms.RsaSha256)
            {
                await error.WriteLineAsync($"error: --alg {alg} is for signing keys only: encryption keys are RSA (RSA-OAEP, RFC 7518 §4.3). Leave --alg out with --use encryption.");
                return 1;
            }

            var bits = parse.GetValue(size);
            if (alg != SecurityAlgorithms.RsaSha256 && parse.GetResult(size) is { Implicit: false })
            {
                await error.WriteLineAsync($"error: --size is for RSA keys; an {alg} key is always P-256. Leave --size out with --alg {alg}.");
                return 1;
            }

            var path = KeysServiceCollectionExtensions.ResolvePath(services);
            if (kind == DataProtectionKeyring.Folder)
            {
                return await NewDataProtectionCertificateAsync(services, path, output, error, cancellationToken);
            }

            var now = DateTime.UtcNow;
            var ring = new KeyRing(path, generateMissing: false);
            var inUse = (kind == KeyRing.SigningFolder ? ring.Signing : ring.Encryption).Any(entry => entry.UsableAt(now));
            var reload = ReloadInterval(services);
            // Note: a signing key must be in every cached JWKS before it signs: the JWKS max-age plus one reload
            // interval (for every node to publish it). An encryption key is never published, but every node must
            // have read it before any node seals with it: one reload interval.
            var minimum = kind == KeyRing.SigningFolder ? JwksCaching.MaxAgeFor(reload) + reload : reload;
            // Note: the first key of its kind has nothing to roll over from and nobody can have cached it, so it is
            // active at once; any later one is pre-published by default.
            var delay = parse.GetValue(activateIn) ?? (inUse ? DefaultActivation : TimeSpan.Zero);
            if (inUse && delay < minimum && !parse.GetValue(force))
            {
                await error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"error: --activate-in {delay} is shorter than {minimum}: {(kind == KeyRing.SigningFolder
                        ? $"resource servers may cache the JWKS for {JwksCaching.MaxAgeFor(reload)} (its Cache-Control max-age) and nodes reload every {reload}, so tokens signed with the new key would fail validation until they refetch it"
                        : $"nodes read the key folder every {reload}, so a node that has not read the new key yet could not decrypt what another sealed with it")}. Use the default (24h), or add --force for an emergency rotation (--activate-in 0 --force)."));
                return 1;
            }

            var notBefore = now + delay;
            var metadata = new KeyMetadata { NotBefore = notBefore, NotAfter = parse.GetValue(lifetime) is { } span ? notBefore + span : null };
            var shown = kind == KeyRing.SigningFolder ? alg : SecurityAlgorithms.RsaOAEP;
            var kid = await AuditedAsync(services, error, AuditActions.KeyCreated, () =>
            {
                var (created, file) = KeyRing.CreateFile(Path.Combine(path, kind), metadata, now, alg, bits);
                var details = new { kid = created, use = kind, alg = shown, bits = alg == SecurityAlgorithms.RsaSha256 ? bits : (int?)null, file = Path.GetFileName(file), not_before = metadata.NotBefore, not_after = metadata.NotAfter };
                return new KeyChange(created, new { after = details }, details, Undo: () =>
                {
                    File.Delete(file);
                    File.Delete(Path.ChangeExtension(file, ".json"));
                });
            }, cancellationToken);
            if (kid is null)
            {
                return 1;
            }

            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Created {kind} key {kid} ({shown}){(alg == SecurityAlgorithms.RsaSha256 ? $", {bits} bits" : "")}, active from {notBefore:u}."));
            return 0;
        });

        var list = new Command("list", "Show every key: kid, use, algorithm, state, activation, expiry and file; and files that can't be used.");
        list.SetAction(async _ =>
        {
            var ring = new KeyRing(KeysServiceCollectionExtensions.ResolvePath(services), generateMissing: false);
            var tokens = services.GetRequiredService<IOptions<TokenOptions>>().Value;
            var now = DateTime.UtcNow;
            await output.WriteLineAsync("kid                                          use         alg       state     not_before            not_after             retired_at            file");
            foreach (var (use, entries, grace) in new[] { (KeyRing.SigningFolder, ring.Signing, tokens.SigningKeyGrace), (KeyRing.EncryptionFolder, ring.Encryption, tokens.RefreshTokenLifetime) })
            {
                foreach (var entry in entries)
                {
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{entry.Kid,-44} {use,-11} {entry.Algorithm,-9} {KeyRing.StateOf(entry, entries, now, grace).ToString().ToLowerInvariant(),-9} {Date(entry.Metadata.NotBefore),-21} {Date(entry.Metadata.NotAfter),-21} {Date(entry.Metadata.RetiredAt),-21} {use}/{Path.GetFileName(entry.File)}"));
                }
            }

            // Note: a skipped file makes the exit code non-zero: the folder is not what the operator put there, and
            // a script that checks the keys with `keys list` must notice. The good keys are listed all the same.
            await ReportSkippedAsync(ring, error);
            return ring.Skipped.Count == 0 ? 0 : 1;
        });

        var kidArgument = new Argument<string>("kid") { Description = "The kid to retire (see keys list)." };
        var retire = new Command("retire", "Stop using a key now; it stays published until the tokens it made have expired.") { kidArgument };
        retire.SetAction(async (parse, cancellationToken) =>
        {
            var kid = parse.GetRequiredValue(kidArgument);
            var ring = new KeyRing(KeysServiceCollectionExtensions.ResolvePath(services), generateMissing: false);
            // Note: an unrelated bad file doesn't stop a retirement; it is reported, as the server reports it.
            await ReportSkippedAsync(ring, error);
            var entry = ring.Signing.Concat(ring.Encryption).FirstOrDefault(candidate => candidate.Kid == kid);
            if (entry is null)
            {
                await error.WriteLineAsync($"error: no key has the kid {kid}.");
                return 1;
            }

            var siblings = ring.Signing.Contains(entry) ? ring.Signing : ring.Encryption;
            if (!siblings.Any(other => other != entry && other.UsableAt(DateTime.UtcNow)))
            {
                await error.WriteLineAsync("error: this is the only usable key of its kind; create and activate its successor first (keys new).");
                return 1;
            }

            var use = ring.Signing.Contains(entry) ? KeyRing.SigningFolder : KeyRing.EncryptionFolder;
            var audited = await AuditedAsync(services, error, AuditActions.KeyRetired, () =>
            {
                var sidecar = Path.ChangeExtension(entry.File, ".json");
                var previous = File.Exists(sidecar) ? File.ReadAllText(sidecar) : null;
                var retiredAt = DateTime.UtcNow;
                KeyRing.WriteSidecar(entry.File, entry.Metadata with { Kid = entry.Kid, RetiredAt = retiredAt });
                var details = new { kid, use, alg = entry.Algorithm, file = Path.GetFileName(entry.File), retired_at = retiredAt };
                return new KeyChange(kid, new { before = new { retired_at = (DateTime?)null }, after = new { retired_at = retiredAt } }, details, Undo: () =>
                {
                    if (previous is null)
                    {
                        File.Delete(sidecar);
                    }
                    else
                    {
                        File.WriteAllText(sidecar, previous);
                    }
                });
            }, cancellationToken);
            if (audited is null)
            {
                return 1;
            }

            await output.WriteLineAsync($"Retired {kid}: it no longer signs, and stays in the JWKS until its tokens have expired.");
            return 0;
        });

        return new Command("keys", "Signing and encryption keys.") { create, list, retire };
    }

    /// <summary>A change to the key folder, what the audit row and the security event say about it, and how to take it back.</summary>
    // Note: a new certificate encrypts the keys the ring makes from now on; the older ones stay in the folder to open
    // the keys they encrypted (ops/runbooks/key-rotation.md). Every node needs the same files before it restarts.
    private static async Task<int> NewDataProtectionCertificateAsync(
        IServiceProvider services, string path, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(path, DataProtectionKeyring.Folder);
        var thumbprint = await AuditedAsync(services, error, AuditActions.KeyCreated, () =>
        {
            var file = DataProtectionKeyring.CreateCertificate(folder, $"data-protection-{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3))}.pfx");
            using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(file, password: null);
            var details = new { kid = certificate.Thumbprint, use = DataProtectionKeyring.Folder, alg = "RSA-OAEP", file = Path.GetFileName(file), not_before = certificate.NotBefore.ToUniversalTime(), not_after = certificate.NotAfter.ToUniversalTime() };
            return new KeyChange(certificate.Thumbprint, new { after = details }, details, Undo: () => File.Delete(file));
        }, cancellationToken);
        if (thumbprint is null)
        {
            return 1;
        }

        await output.WriteLineAsync($"Created data-protection certificate {thumbprint} in {folder}; copy it to every node's key folder, then restart them.");
        return 0;
    }

    private sealed record KeyChange(string Kid, object Changes, object Details, Action Undo);

    /// <summary>
    /// Threat model 2.5: a key change is audited like any privileged change, with an audit row (actor <c>cli</c>) and a
    /// security event, committed together, and neither holds any key material (kid, use, alg, file name, dates).
    /// The database is reached before the folder is touched, and a change whose record can't be committed is taken
    /// back: a key change that isn't audited doesn't happen. Returns the kid, or null after printing the error.
    /// </summary>
    private static async Task<string?> AuditedAsync(
        IServiceProvider services, TextWriter error, string action, Func<KeyChange> apply, CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
        try
        {
            // Note: both tables must be there (a migrated database) before a file changes.
            await db.AuditLog.AnyAsync(cancellationToken);
            await db.SecurityEvents.AnyAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is DbException or InvalidOperationException)
        {
            await error.WriteLineAsync($"error: nothing was changed: the key change can't be audited without the database ({exception.GetBaseException().Message}). Check ConnectionStrings:OAuthServer and run `OAuthServer migrate`.");
            return null;
        }

        var change = apply();
        try
        {
            CliCommands.BeginAudit(scope.ServiceProvider, action);
            scope.ServiceProvider.GetRequiredService<AuditTrail>().Add("key", change.Kid, change.Changes);
            scope.ServiceProvider.GetRequiredService<SecurityEvents>().Add(action, CliCommands.CliOrigin, data: change.Details);
            await db.SaveChangesAsync(cancellationToken);
            return change.Kid;
        }
        catch (Exception exception) when (exception is DbException or DbUpdateException or InvalidOperationException or OperationCanceledException)
        {
            change.Undo();
            await error.WriteLineAsync($"error: the key change was taken back: its audit row could not be written ({exception.GetBaseException().Message}).");
            return null;
        }
    }

    private static async Task ReportSkippedAsync(KeyRing ring, TextWriter error)
    {
        foreach (var skipped in ring.Skipped)
        {
            await error.WriteLineAsync($"error: {skipped.File} is skipped (the server ignores it too): {skipped.Reason}. Fix or remove it.");
        }
    }

    private static TimeSpan? ParseDuration(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
        if (Durations.TryParse(text, out var duration))
        {
            return duration;
        }

        result.AddError($"{(result.Parent as OptionResult)?.Option.Name ?? "The option"} must be {Durations.Hint}, not '{text}'.");
        return null;
    }

    // Note: read from configuration, not the validated options: `keys new` must work before the folder is complete.
    private static TimeSpan ReloadInterval(IServiceProvider services) =>
        services.GetRequiredService<IConfiguration>().GetSection(KeysOptions.Section).Get<KeysOptions>()?.ReloadInterval ?? new KeysOptions().ReloadInterval;

    private static string Date(DateTime? value) => value?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "-";
}
