using System.Text.RegularExpressions;

namespace OAuthServer.Observability;

/// <summary>
/// Threat model 4.3: the last line of defence for log sinks. Our own log statements never take a secret as an
/// argument; this scrubs what other components may print (OpenIddict's request dumps, for instance, redact
/// the code but not the code_verifier): sensitive OAuth parameters in JSON or form/query syntax, bearer and
/// basic credentials, JWTs, cookies and passwords.
/// </summary>
internal static partial class LogRedactor
{
    public const string Redacted = "[redacted]";

    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? string.Empty;
        }

        text = JsonParameter().Replace(text, match => $"{match.Groups["key"].Value}{match.Groups["separator"].Value}\"{Redacted}\"");
        text = FormParameter().Replace(text, match => $"{match.Groups["key"].Value}={Redacted}");
        text = EncodedParameter().Replace(text, match => $"{match.Groups["key"].Value}%3D{Redacted}");
        text = Credentials().Replace(text, match => $"{match.Groups["scheme"].Value} {Redacted}");
        text = Jwt().Replace(text, Redacted);
        return text;
    }

    private const string SensitiveNames =
        "code|code_verifier|password|new_password|confirmpassword|confirm_password|client_secret|client_assertion|assertion|access_token|refresh_token|id_token|id_token_hint|token|subject_token|actor_token|device_code|user_code|request|request_uri|pepper|secret|cookie|set-cookie|authorization|dpop";

    [GeneratedRegex("(?<key>\"(?:" + SensitiveNames + ")\")(?<separator>\\s*:\\s*)\"(?:[^\"\\\\]|\\\\.)*\"", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex JsonParameter();

    [GeneratedRegex("(?<=^|[?&\\s;,])(?<key>" + SensitiveNames + ")=(?!\\[redacted\\])[^&\\s\"';,]+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex FormParameter();

    // Note: a query inside a parameter (the login page's ReturnUrl carries the device page's user_code) is
    // percent-encoded: "%3Fuser_code%3DVALUE%26...".
    [GeneratedRegex("(?<=%3F|%26)(?<key>" + SensitiveNames + ")%3D(?!\\[redacted\\])(?:(?!%26)[^&\\s\"';,])+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex EncodedParameter();

    [GeneratedRegex("(?<scheme>Bearer|Basic|DPoP)\\s+[A-Za-z0-9\\-._~+/]+=*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Credentials();

    [GeneratedRegex("eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]*", RegexOptions.CultureInvariant)]
    private static partial Regex Jwt();
}
