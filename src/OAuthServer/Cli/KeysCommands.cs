using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using OAuthServer.Keys;
using OAuthServer.Protocol;

namespace OAuthServer.Cli;

/// <summary>
/// <c>keys new|list|retire</c>: key rotation without downtime. A new key is published (JWKS) at once and signs
/// only from its activation; a retired key stops signing at once and stays published for one more token
/// lifetime. Running nodes pick the change up within Keys:ReloadInterval.
/// </summary>
internal static class KeysCommands
{
    public static Command Command(IServiceProvider services, TextWriter output, TextWriter error)
    {
        var activateIn = new Option<TimeSpan>("--activate-in") { Description = "Publish now, start signing after this long (e.g. 1.00:00:00 for 24h).", DefaultValueFactory = _ => TimeSpan.Zero };
        var lifetime = new Option<TimeSpan?>("--lifetime") { Description = "Stop signing this long after activation (e.g. 90.00:00:00)." };
        var use = new Option<string>("--use") { Description = "signing (default) or encryption.", DefaultValueFactory = _ => KeyRing.SigningFolder };
        use.AcceptOnlyFromAmong(KeyRing.SigningFolder, KeyRing.EncryptionFolder);

        var create = new Command("new", "Write a new RSA key into Keys:Path.") { activateIn, lifetime, use };
        create.SetAction(async parse =>
        {
            var now = DateTime.UtcNow;
            var notBefore = now + parse.GetValue(activateIn);
            var metadata = new KeyMetadata { NotBefore = notBefore, NotAfter = parse.GetValue(lifetime) is { } span ? notBefore + span : null };
            var kid = KeyRing.Create(Path.Combine(KeysServiceCollectionExtensions.ResolvePath(services), parse.GetValue(use)!), metadata, now);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Created {parse.GetValue(use)} key {kid}, active from {notBefore:u}."));
            return 0;
        });

        var list = new Command("list", "Show every key: kid, use, state, activation and expiry.");
        list.SetAction(async _ =>
        {
            var ring = new KeyRing(KeysServiceCollectionExtensions.ResolvePath(services), generateMissing: false);
            var tokens = services.GetRequiredService<IOptions<TokenOptions>>().Value;
            var now = DateTime.UtcNow;
            await output.WriteLineAsync("kid                                          use         state     not_before            not_after             retired_at");
            foreach (var (use, entries, grace) in new[] { (KeyRing.SigningFolder, ring.Signing, tokens.SigningKeyGrace), (KeyRing.EncryptionFolder, ring.Encryption, tokens.RefreshTokenLifetime) })
            {
                foreach (var entry in entries)
                {
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{entry.Kid,-44} {use,-11} {KeyRing.StateOf(entry, entries, now, grace).ToString().ToLowerInvariant(),-9} {Date(entry.Metadata.NotBefore),-21} {Date(entry.Metadata.NotAfter),-21} {Date(entry.Metadata.RetiredAt)}"));
                }
            }

            return 0;
        });

        var kidArgument = new Argument<string>("kid") { Description = "The kid to retire (see keys list)." };
        var retire = new Command("retire", "Stop using a key now; it stays published until the tokens it made have expired.") { kidArgument };
        retire.SetAction(async parse =>
        {
            var kid = parse.GetRequiredValue(kidArgument);
            var ring = new KeyRing(KeysServiceCollectionExtensions.ResolvePath(services), generateMissing: false);
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

            KeyRing.WriteSidecar(entry.File, entry.Metadata with { RetiredAt = DateTime.UtcNow });
            await output.WriteLineAsync($"Retired {kid}: it no longer signs, and stays in the JWKS until its tokens have expired.");
            return 0;
        });

        return new Command("keys", "Signing and encryption keys.") { create, list, retire };
    }

    private static string Date(DateTime? value) => value?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "-";
}
