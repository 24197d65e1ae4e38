using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;
using OpenIddict.Core;

namespace OAuthServer.Protocol;

/// <summary>
/// Client secrets that passed OpenIddict's PBKDF2 check recently, held in memory as SHA-256 digests next to
/// the stored hash they matched. A confidential client then pays for PBKDF2 once per <see cref="Lifetime"/>
/// instead of on every token request. See docs/benchmarks.md, "Client secrets", for the reasoning.
/// </summary>
/// <remarks>
/// Note: what is stored at rest does not change (PBKDF2 with a salt, as OpenIddict writes it), so a leaked
/// database is as hard to attack as before. Only successes are remembered, so every wrong guess still costs the
/// full PBKDF2 work and counts against the client-auth failure budgets. An entry is keyed by the stored hash,
/// which changes (new salt) whenever the secret does, so a rotated secret never matches an old entry.
/// </remarks>
internal sealed class VerifiedClientSecrets(TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    // Far more than the confidential clients of one deployment; reaching it just empties the cache.
    private const int MaxEntries = 10_000;

    private readonly ConcurrentDictionary<string, (byte[] Digest, DateTimeOffset Expires)> _verified = new(StringComparer.Ordinal);

    public bool IsKnown(string storedHash, string secret) =>
        _verified.TryGetValue(storedHash, out var entry)
        && entry.Expires > time.GetUtcNow()
        // Note: compared in constant time, like the PBKDF2 result it stands for.
        && CryptographicOperations.FixedTimeEquals(entry.Digest, Digest(secret));

    public void Remember(string storedHash, string secret)
    {
        if (_verified.Count >= MaxEntries)
        {
            _verified.Clear();
        }

        _verified[storedHash] = (Digest(secret), time.GetUtcNow() + Lifetime);
    }

    private static byte[] Digest(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));
}

/// <summary>OpenIddict's application manager, with <see cref="VerifiedClientSecrets"/> in front of its PBKDF2 check.</summary>
internal sealed class VerifiedSecretApplicationManager<TApplication>(
    IOpenIddictApplicationCache<TApplication> cache,
    ILogger<OpenIddictApplicationManager<TApplication>> logger,
    IOptionsMonitor<OpenIddictCoreOptions> options,
    IOpenIddictApplicationStore<TApplication> store,
    VerifiedClientSecrets verified,
    Assertions.JwksUriKeys jwksUri)
    : OpenIddictApplicationManager<TApplication>(cache, logger, options, store)
    where TApplication : class
{
    protected override async ValueTask<bool> ValidateClientSecretAsync(string secret, string comparand, CancellationToken cancellationToken = default)
    {
        if (!string.IsNullOrEmpty(secret) && !string.IsNullOrEmpty(comparand) && verified.IsKnown(comparand, secret))
        {
            return true;
        }

        var valid = await base.ValidateClientSecretAsync(secret, comparand, cancellationToken);
        if (valid)
        {
            verified.Remember(comparand, secret);
        }

        return valid;
    }

    /// <summary>
    /// A jwks_uri client's keys are the ones <see cref="Assertions.ClientAssertionHandlers.Precheck"/> fetched for this
    /// request; OpenIddict asks for them from a synchronous resolver, so nothing is fetched here.
    /// </summary>
    public override async ValueTask<Microsoft.IdentityModel.Tokens.JsonWebKeySet?> GetJsonWebKeySetAsync(TApplication application, CancellationToken cancellationToken = default)
    {
        if (application is OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreApplication { ClientId: { } clientId } row
            && Assertions.ClientAssertionHandlers.JwksUriOf(await GetPropertiesAsync(application, cancellationToken)) is not null)
        {
            return jwksUri.Cached(clientId, row.ConcurrencyToken ?? string.Empty);
        }

        return await base.GetJsonWebKeySetAsync(application, cancellationToken);
    }

    /// <summary>
    /// OpenIddict's checks, except the one that wants a confidential client to have a secret or stored keys: a
    /// jwks_uri client has neither, its keys are fetched (ClientRules has already required the URI).
    /// </summary>
    public override async IAsyncEnumerable<System.ComponentModel.DataAnnotations.ValidationResult> ValidateAsync(
        TApplication application, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var fetchesKeys = Assertions.ClientAssertionHandlers.JwksUriOf(await GetPropertiesAsync(application, cancellationToken)) is not null;
        await foreach (var result in base.ValidateAsync(application, cancellationToken))
        {
            // Note: OpenIddict's messages are not localized; ClientAssertionTests registers a jwks_uri client, so a
            // changed wording fails there rather than silently.
            if (fetchesKeys && result.ErrorMessage?.StartsWith("The client secret cannot be null or empty for a confidential application", StringComparison.Ordinal) == true)
            {
                continue;
            }

            yield return result;
        }
    }
}
