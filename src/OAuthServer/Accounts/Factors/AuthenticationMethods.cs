using System.Globalization;
using System.Security.Claims;

namespace OAuthServer.Accounts.Factors;

/// <summary>
/// How a person proved who they are: the RFC 8176 <c>amr</c> values a session and its tokens carry, and the
/// <c>acr</c> levels (OIDC Core §2) a client may ask for with <c>acr_values</c>.
/// </summary>
/// <remarks>
/// One vocabulary for the session cookie, the ID token and the admin API's step-up check, so they can't disagree
/// about what counts as a second factor.
/// </remarks>
internal static class AuthenticationMethods
{
    /// <summary>The session cookie's and the tokens' claim: one claim per method (RFC 8176 §1).</summary>
    public const string Claim = "amr";

    /// <summary>When the session's last second factor was verified (Unix seconds): what admin step-up measures.</summary>
    public const string SecondFactorTimeClaim = "oauthserver_mfa_time";

    /// <summary>RFC 8176 §2: a password.</summary>
    public const string Password = "pwd";

    /// <summary>RFC 8176 §2: a one-time password (TOTP, or a recovery code).</summary>
    public const string OneTimePassword = "otp";

    /// <summary>RFC 8176 §2: proof of possession of a hardware-bound key (a passkey that can't be synced).</summary>
    public const string HardwareKey = "hwk";

    /// <summary>RFC 8176 §2: proof of possession of a software key (a synced passkey).</summary>
    public const string SoftwareKey = "swk";

    /// <summary>RFC 8176 §2: more than one factor was used.</summary>
    public const string MultipleFactors = "mfa";

    /// <summary>The acr of a sign-in with one factor (a password).</summary>
    public const string SingleFactorLevel = "urn:oauthserver:acr:sfa";

    /// <summary>The acr of a sign-in with two factors (a password and a one-time code, or a user-verified passkey).</summary>
    public const string MultiFactorLevel = "urn:oauthserver:acr:mfa";

    /// <summary>OpenID EAP ACR Values 1.0 §2: phishing-resistant (a passkey, bound to our origin by WebAuthn).</summary>
    public const string PhishingResistantLevel = "phr";

    /// <summary>What discovery lists as <c>acr_values_supported</c>, weakest first.</summary>
    public static IReadOnlyList<string> Levels { get; } = [SingleFactorLevel, MultiFactorLevel, PhishingResistantLevel];

    /// <summary>The methods of a session cookie's principal (none for an anonymous one).</summary>
    public static IReadOnlyList<string> Of(ClaimsPrincipal? principal) =>
        principal?.FindAll(Claim).Select(claim => claim.Value).Distinct(StringComparer.Ordinal).ToArray() ?? [];

    /// <summary>True when the methods include a second factor (a one-time code or a passkey, or are marked mfa).</summary>
    public static bool IncludeSecondFactor(IEnumerable<string> methods) =>
        methods.Any(method => method is OneTimePassword or HardwareKey or SoftwareKey or MultipleFactors);

    /// <summary>The acr level the methods reach.</summary>
    public static string LevelOf(IReadOnlyCollection<string> methods) =>
        methods.Contains(HardwareKey) || methods.Contains(SoftwareKey) ? PhishingResistantLevel
        : IncludeSecondFactor(methods) ? MultiFactorLevel
        : SingleFactorLevel;

    /// <summary>
    /// True when <paramref name="achieved"/> is at least <paramref name="requested"/> on the ladder of
    /// <see cref="Levels"/>; an unknown requested level is never met.
    /// </summary>
    public static bool Meets(string achieved, string requested)
    {
        var want = Rank(requested);
        return want >= 0 && Rank(achieved) >= want;
    }

    /// <summary>The weakest level of <paramref name="requested"/> that is known, or null when none is (OIDC Core §3.1.2.1: acr_values is ordered by preference; we honour the weakest we know).</summary>
    public static string? WeakestKnown(IEnumerable<string> requested) =>
        requested.Where(level => Rank(level) >= 0).OrderBy(Rank).FirstOrDefault();

    /// <summary>The time of the session's last second factor, if it has one.</summary>
    public static DateTimeOffset? SecondFactorTime(ClaimsPrincipal? principal) =>
        long.TryParse(principal?.FindFirst(SecondFactorTimeClaim)?.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    /// <summary>
    /// The methods after a second factor: RFC 8176 §2 asks for <c>mfa</c> whenever more than one factor was used.
    /// A user-verified passkey is two factors by itself (the device, and the PIN or biometric that unlocks it;
    /// NIST SP 800-63B §5.1.9, multi-factor cryptographic authenticator).
    /// </summary>
    public static IReadOnlyList<string> WithSecondFactor(IEnumerable<string> methods, string secondFactor)
    {
        var all = methods.Append(secondFactor).Append(MultipleFactors).Distinct(StringComparer.Ordinal).ToList();
        return all;
    }

    private static int Rank(string level) => level switch
    {
        SingleFactorLevel => 0,
        MultiFactorLevel => 1,
        PhishingResistantLevel => 2,
        _ => -1,
    };
}
