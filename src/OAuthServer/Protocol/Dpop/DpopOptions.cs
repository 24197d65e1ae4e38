using Microsoft.Extensions.Options;

namespace OAuthServer.Protocol.Dpop;

/// <summary>The <c>Dpop</c> section: how DPoP proofs (RFC 9449) are judged.</summary>
internal sealed class DpopOptions
{
    public const string Section = "Dpop";

    /// <summary>
    /// How old a proof's <c>iat</c> may be (RFC 9449 §11.1: a short window limits what a captured proof is good
    /// for). Its <c>jti</c> is remembered for as long, on every node.
    /// </summary>
    public TimeSpan ProofLifetime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How far in the future a proof's <c>iat</c> may be: the client's clock may run a little ahead.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Require a server nonce (RFC 9449 §8) in every proof at the token endpoint. Off by default: a nonce costs a
    /// client one extra round trip, and mostly guards against proofs made in advance by a compromised client.
    /// </summary>
    public bool RequireNonce { get; set; }

    /// <summary>Clients whose proofs must carry a server nonce even when <see cref="RequireNonce"/> is off.</summary>
    public List<string> RequireNonceForClients { get; set; } = [];

    /// <summary>How long a server nonce is accepted after it was given out.</summary>
    public TimeSpan NonceLifetime { get; set; } = TimeSpan.FromMinutes(5);

    public bool NonceRequiredFor(string? clientId) =>
        RequireNonce || (clientId is not null && RequireNonceForClients.Contains(clientId, StringComparer.Ordinal));
}

internal sealed class DpopOptionsValidator : IValidateOptions<DpopOptions>
{
    public ValidateOptionsResult Validate(string? name, DpopOptions options)
    {
        var failures = new List<string>();
        if (options.ProofLifetime < TimeSpan.FromSeconds(5) || options.ProofLifetime > TimeSpan.FromMinutes(10))
        {
            failures.Add("Dpop:ProofLifetime must be between 00:00:05 and 00:10:00.");
        }

        if (options.ClockSkew < TimeSpan.Zero || options.ClockSkew > TimeSpan.FromMinutes(1))
        {
            failures.Add("Dpop:ClockSkew must be between 00:00:00 and 00:01:00.");
        }

        if (options.NonceLifetime < TimeSpan.FromSeconds(10) || options.NonceLifetime > TimeSpan.FromHours(1))
        {
            failures.Add("Dpop:NonceLifetime must be between 00:00:10 and 01:00:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
