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
    }

    public Histogram<double> PasswordHashDuration { get; }

    public Counter<long> PasswordHashBusy { get; }

    public UpDownCounter<long> PasswordHashInFlight { get; }

    public Counter<long> LoginAttempts { get; }

    public Counter<long> Lockouts { get; }
}
