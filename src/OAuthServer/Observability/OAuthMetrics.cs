using System.Diagnostics.Metrics;

namespace OAuthServer.Observability;

/// <summary>
/// The server's own instruments, on one meter. The Prometheus exporter adds the unit and <c>_total</c>
/// suffixes, so <c>oauth_password_hash_busy</c> is scraped as <c>oauth_password_hash_busy_total</c>.
/// </summary>
internal sealed class OAuthMetrics
{
    public const string MeterName = "OAuthServer";

    public OAuthMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        PasswordHashDuration = meter.CreateHistogram<double>(
            "oauth_password_hash_duration", "s", "Time spent in one Argon2id hash or verification.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });
        PasswordHashBusy = meter.CreateCounter<long>("oauth_password_hash_busy", description: "Requests refused because no Argon2 slot freed up in time.");
        PasswordHashInFlight = meter.CreateUpDownCounter<long>("oauth_password_hash_in_flight", description: "Argon2 operations running now.");
        LoginAttempts = meter.CreateCounter<long>("oauth_login_attempts", description: "Login attempts by result.");
        Lockouts = meter.CreateCounter<long>("oauth_lockouts", description: "Accounts locked after repeated failures.");
        TokensIssued = meter.CreateCounter<long>("oauth_tokens_issued", description: "Token responses by grant type.");
        RefreshReplays = meter.CreateCounter<long>("oauth_refresh_replay", description: "Refresh tokens presented again after use; each revokes its token family.");
        TokenExchanges = meter.CreateCounter<long>("oauth_token_exchanges", description: "RFC 8693 token exchanges by result (issued, refused).");
        RefreshRetries = meter.CreateCounter<long>("oauth_refresh_retries", description: "Retried refreshes answered with the same successor inside the retry window.");
        RateLimited = meter.CreateCounter<long>("oauth_rate_limited", description: "Requests refused by a rate-limit policy.");
        RateLimitStoreFailures = meter.CreateCounter<long>("oauth_rate_limit_store_failures", description: "Times the shared (Redis) rate-limit store failed and the local limiter answered instead.");
        EventsPublished = meter.CreateCounter<long>("oauth_security_events_published", description: "Security events acknowledged by JetStream.");
        EventPublishFailures = meter.CreateCounter<long>("oauth_security_events_publish_failures", description: "Failed attempts to publish security events.");
        ClientAssertionFailures = meter.CreateCounter<long>("oauth_client_assertion_failures", description: "private_key_jwt client assertions refused, by reason.");
        ClientAssertionReplays = meter.CreateCounter<long>("oauth_client_assertion_replays", description: "private_key_jwt client assertions presented again (jti already spent).");
        DeviceVerifications = meter.CreateCounter<long>("oauth_device_verifications", description: "User decisions and wrong codes at the device verification page (RFC 8628), by result.");
        DpopRefused = meter.CreateCounter<long>("oauth_dpop_refused", description: "DPoP proofs, and requests missing one for a bound token, refused by reason and endpoint.");
        DpopBoundTokensIssued = meter.CreateCounter<long>("oauth_dpop_bound_tokens_issued", description: "Access tokens issued bound to a DPoP key (cnf.jkt).");
        SecondFactorVerifications = meter.CreateCounter<long>("oauth_second_factor_verifications", description: "Second-factor checks by method (totp, passkey, recovery_code) and result (success, failure).");
        meter.CreateObservableGauge("oauth_security_events_pending", () => Interlocked.Read(ref _pendingEvents), description: "Security events in the outbox not yet published.");

        // Note: a counter series exists only after its first increment, and Prometheus' increase() can't see
        // the step from "absent" to 1. Publishing every known series at zero makes the first replay or lockout
        // after a restart fire its alert.
        LoginAttempts.Add(0, new KeyValuePair<string, object?>("result", "success"));
        LoginAttempts.Add(0, new KeyValuePair<string, object?>("result", "failure"));
        Lockouts.Add(0);
        PasswordHashBusy.Add(0);
        RefreshReplays.Add(0);
        EventPublishFailures.Add(0);
        RateLimitStoreFailures.Add(0);
        DpopRefused.Add(0, new KeyValuePair<string, object?>("reason", "replayed"), new KeyValuePair<string, object?>("endpoint", "token"));
        ClientAssertionReplays.Add(0);
        TokenExchanges.Add(0, new KeyValuePair<string, object?>("result", "issued"));
        TokenExchanges.Add(0, new KeyValuePair<string, object?>("result", "refused"));
        RefreshRetries.Add(0);
        foreach (var result in new[] { "approved", "denied", "invalid_code" })
        {
            DeviceVerifications.Add(0, new KeyValuePair<string, object?>("result", result));
        }

        foreach (var method in new[] { "totp", "passkey", "recovery_code" })
        {
            SecondFactorVerifications.Add(0, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("result", "success"));
            SecondFactorVerifications.Add(0, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("result", "failure"));
        }

        foreach (var grantType in new[] { "authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", OpenIddict.Abstractions.OpenIddictConstants.GrantTypes.TokenExchange })
        {
            TokensIssued.Add(0, new KeyValuePair<string, object?>("grant_type", grantType));
        }
    }

    private long _pendingEvents;

    public Counter<long> TokensIssued { get; }

    public Counter<long> RefreshReplays { get; }

    public Counter<long> DeviceVerifications { get; }

    public Counter<long> TokenExchanges { get; }

    public Counter<long> RefreshRetries { get; }

    public Counter<long> RateLimited { get; }

    /// <summary>Labels: <c>method</c> (totp, passkey, recovery_code), <c>result</c> (success, failure).</summary>
    public Counter<long> SecondFactorVerifications { get; }

    public Counter<long> ClientAssertionFailures { get; }

    public Counter<long> ClientAssertionReplays { get; }
    /// <summary>Labels: <c>reason</c> (invalid, replayed, nonce, key_mismatch, missing), <c>endpoint</c> (token, userinfo, par).</summary>
    public Counter<long> DpopRefused { get; }

    public Counter<long> DpopBoundTokensIssued { get; }

    public Counter<long> RateLimitStoreFailures { get; }

    public Counter<long> EventsPublished { get; }

    public Counter<long> EventPublishFailures { get; }

    /// <summary>The outbox backlog as last counted by the relay.</summary>
    public void SetPendingEvents(long count) => Interlocked.Exchange(ref _pendingEvents, count);

    public Histogram<double> PasswordHashDuration { get; }

    public Counter<long> PasswordHashBusy { get; }

    public UpDownCounter<long> PasswordHashInFlight { get; }

    public Counter<long> LoginAttempts { get; }

    public Counter<long> Lockouts { get; }
}
