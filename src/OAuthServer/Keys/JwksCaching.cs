namespace OAuthServer.Keys;

/// <summary>
/// How long the JWKS may be cached: a max-age shorter than any sensible pre-publication window (a key is
/// published at least that long before it signs, so a cached JWKS always knows it). The headers themselves, with
/// a strong ETag for free revalidation, are written by <see cref="Protocol.WellKnownResponseCache"/>, which
/// caches the discovery documents the same way.
/// </summary>
internal static class JwksCaching
{
    /// <summary>Resource servers may cache the key set this long; pre-publish new keys for longer (keys new --activate-in).</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The max-age actually sent: ten reload intervals, between 1 second and <see cref="MaxAge"/> (a node set to
    /// pick up key changes quickly shouldn't let caches keep the old set for minutes). <c>keys new</c> refuses a
    /// shorter pre-publication (plus one reload interval) without <c>--force</c>.
    /// </summary>
    public static TimeSpan MaxAgeFor(TimeSpan reloadInterval) =>
        TimeSpan.FromSeconds((int)Math.Min(MaxAge.TotalSeconds, Math.Max(1, reloadInterval.TotalSeconds * 10)));
}
