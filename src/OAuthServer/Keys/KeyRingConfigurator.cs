using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Server;

namespace OAuthServer.Keys;

/// <summary>
/// Hands the key ring to OpenIddict, active key first: OpenIddict signs and encrypts with the first key it is
/// given and publishes every signing key in the JWKS. Re-run whenever <see cref="KeyRingMonitor"/> signals a change.
/// Each signing key carries its own algorithm (RS256 or ES256): the JWKS publishes it as the key's <c>alg</c>, and
/// discovery's <c>id_token_signing_alg_values_supported</c> lists the algorithms of all published keys.
/// </summary>
internal sealed class KeyRingConfigurator(KeyRing ring, TimeProvider clock, IOptions<Protocol.TokenOptions> tokens) : IConfigureOptions<OpenIddictServerOptions>
{
    public void Configure(OpenIddictServerOptions options)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var entry in KeyRing.Ordered(ring.Signing, now, tokens.Value.SigningKeyGrace))
        {
            options.SigningCredentials.Add(new SigningCredentials(entry.Key, entry.Algorithm));
        }

        // Note: old encryption keys must stay while codes and refresh tokens sealed with them can be redeemed.
        foreach (var entry in KeyRing.Ordered(ring.Encryption, now, tokens.Value.RefreshTokenLifetime))
        {
            options.EncryptionCredentials.Add(new EncryptingCredentials(
                entry.Key, SecurityAlgorithms.RsaOAEP, SecurityAlgorithms.Aes256CbcHmacSha512));
        }
    }
}
