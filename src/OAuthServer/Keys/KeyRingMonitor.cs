using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using OpenIddict.Server;

namespace OAuthServer.Keys;

/// <summary>
/// Keeps a running node's keys current without a restart: every Keys:ReloadInterval it re-reads the key folder
/// when its files changed, and re-orders the keys when one became active, retired or gone with time. Either way
/// it signals OpenIddict to rebuild its options, so a new key starts signing at its activation instant on every
/// node. A bad key file is logged (its name and why, never its content) and skipped, and the rest of the folder
/// loads; a change that leaves no usable signing or encryption key is refused and the last good set stays in use.
/// </summary>
internal sealed partial class KeyRingMonitor(
    KeyRing ring, IOptions<KeysOptions> options, IOptions<Protocol.TokenOptions> tokens, TimeProvider clock, ILogger<KeyRingMonitor> logger)
    : BackgroundService, IOptionsChangeTokenSource<OpenIddictServerOptions>
{
    private CancellationTokenSource _changed = new();
    private CancellationTokenSource _validationChanged = new();

    public string? Name => Options.DefaultName;

    public IChangeToken GetChangeToken() => new CancellationChangeToken(_changed.Token);

    /// <summary>Fires after the server options were rebuilt: the admin API's token validation copies their keys.</summary>
    public IChangeToken GetValidationChangeToken() => new CancellationChangeToken(_validationChanged.Token);

    /// <summary>
    /// At start-up a bad key file is logged and skipped, in Production too, as long as a signing and an encryption
    /// key load. Running nodes already ignore that file; a node that restarts or scales out must publish the same
    /// keys they do, rather than crash-loop on a file the cluster serves fine without. A folder where no signing or
    /// no encryption key loads stops start-up, naming the skipped files. (This runs after the options validation,
    /// which names a missing Keys:Path or empty folder first.)
    /// </summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        LogSkipped(ring.Skipped);
        ring.EnsureUsable();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var order = OrderOf(clock.GetUtcNow().UtcDateTime);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.ReloadInterval, clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var now = clock.GetUtcNow().UtcDateTime;
            var changed = false;
            string fingerprint;
            try
            {
                fingerprint = KeyRing.CurrentFingerprint(ring.Path);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // Note: a remounted or briefly unreadable secret volume must not stop the server; the keys in
                // memory stay in use and the next round tries again.
                LogRejected(logger, exception.Message);
                continue;
            }

            if (fingerprint != ring.Fingerprint)
            {
                if (ring.TryReload(now, out var problem))
                {
                    LogReloaded(logger, ring.Signing.Count, ring.Encryption.Count);
                    LogSkipped(ring.Skipped);
                    changed = true;
                }
                else
                {
                    LogRejected(logger, problem ?? "unknown");
                }
            }

            var newOrder = OrderOf(now);
            if (changed || newOrder != order)
            {
                order = newOrder;
                var signing = KeyRing.Ordered(ring.Signing, now, tokens.Value.SigningKeyGrace);
                LogActive(logger, signing.Count > 0 ? signing[0].Kid : "none");
                Signal();
            }
        }
    }

    private void LogSkipped(IEnumerable<SkippedKeyFile> skipped)
    {
        foreach (var file in skipped)
        {
            LogSkippedFile(logger, file.File, file.Reason);
        }
    }

    private string OrderOf(DateTime now) =>
        string.Join(',', KeyRing.Ordered(ring.Signing, now, tokens.Value.SigningKeyGrace).Select(entry => entry.Kid))
        + ';' + string.Join(',', KeyRing.Ordered(ring.Encryption, now, tokens.Value.RefreshTokenLifetime).Select(entry => entry.Kid));

    private void Signal()
    {
        // Note: order matters. OpenIddict's validation stack (UseLocalServer) reads the server options when it is
        // rebuilt, so the server options are signalled (and rebuilt) first, then the validation options.
        foreach (var source in new[] { Interlocked.Exchange(ref _changed, new CancellationTokenSource()), Interlocked.Exchange(ref _validationChanged, new CancellationTokenSource()) })
        {
            source.Cancel();
            source.Dispose();
        }
    }

    public override void Dispose()
    {
        _changed.Dispose();
        _validationChanged.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Key folder reloaded: {SigningKeys} signing and {EncryptionKeys} encryption key(s)")]
    private static partial void LogReloaded(ILogger logger, int signingKeys, int encryptionKeys);

    [LoggerMessage(Level = LogLevel.Error, Message = "Key folder change ignored, the current keys stay in use: {Problem}")]
    private static partial void LogRejected(ILogger logger, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Key file skipped, the other keys are in use: {File}: {Reason}")]
    private static partial void LogSkippedFile(ILogger logger, string file, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Signing key order changed; active kid {Kid}")]
    private static partial void LogActive(ILogger logger, string kid);
}

/// <summary>Lets the admin API's token validation follow key rotation (see <see cref="KeyRingMonitor.GetValidationChangeToken"/>).</summary>
internal sealed class ValidationKeysChangeTokenSource(KeyRingMonitor monitor) : IOptionsChangeTokenSource<OpenIddict.Validation.OpenIddictValidationOptions>
{
    public string? Name => Options.DefaultName;

    public IChangeToken GetChangeToken() => monitor.GetValidationChangeToken();
}
