using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using OpenIddict.Server;

namespace OAuthServer.Keys;

/// <summary>
/// Keeps a running node's keys current without a restart: every Keys:ReloadInterval it re-reads the key folder
/// when its files changed, and re-orders the keys when one became active, retired or gone with time. Either way
/// it signals OpenIddict to rebuild its options, so a new key starts signing at its activation instant on every
/// node. A bad key file is logged and ignored; the last good set stays in use.
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Signing key order changed; active kid {Kid}")]
    private static partial void LogActive(ILogger logger, string kid);
}

/// <summary>Lets the admin API's token validation follow key rotation (see <see cref="KeyRingMonitor.GetValidationChangeToken"/>).</summary>
internal sealed class ValidationKeysChangeTokenSource(KeyRingMonitor monitor) : IOptionsChangeTokenSource<OpenIddict.Validation.OpenIddictValidationOptions>
{
    public string? Name => Options.DefaultName;

    public IChangeToken GetChangeToken() => monitor.GetValidationChangeToken();
}
