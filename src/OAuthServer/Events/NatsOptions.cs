namespace OAuthServer.Events;

/// <summary>The <c>Nats</c> section. Without <see cref="Url"/>, events stay in the outbox (and are counted as pending).</summary>
internal sealed class NatsOptions
{
    public const string Section = "Nats";
    public const string Stream = "OAUTH_SECURITY";
    public const string SubjectPrefix = "oauth.security.";

    public string? Url { get; set; }

    /// <summary>How often the relay looks for new events when it has nothing to do.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between attempts while NATS is unreachable.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>At shutdown, how long the relay keeps publishing what is pending (within the host's shutdown timeout).</summary>
    public TimeSpan ShutdownFlushTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
