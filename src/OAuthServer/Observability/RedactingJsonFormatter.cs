using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

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
        text = Credentials().Replace(text, match => $"{match.Groups["scheme"].Value} {Redacted}");
        text = Jwt().Replace(text, Redacted);
        return text;
    }

    private const string SensitiveNames =
        "code|code_verifier|password|new_password|client_secret|client_assertion|assertion|access_token|refresh_token|id_token|id_token_hint|token|subject_token|actor_token|device_code|user_code|request|request_uri|pepper|secret|cookie|set-cookie|authorization";

    [GeneratedRegex("(?<key>\"(?:" + SensitiveNames + ")\")(?<separator>\\s*:\\s*)\"(?:[^\"\\\\]|\\\\.)*\"", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex JsonParameter();

    [GeneratedRegex("(?<=^|[?&\\s;,])(?<key>" + SensitiveNames + ")=(?!\\[redacted\\])[^&\\s\"';,]+", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex FormParameter();

    [GeneratedRegex("(?<scheme>Bearer|Basic)\\s+[A-Za-z0-9\\-._~+/]+=*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Credentials();

    [GeneratedRegex("eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]*", RegexOptions.CultureInvariant)]
    private static partial Regex Jwt();
}

/// <summary>
/// One JSON object per line (timestamp, level, category, event id, message, state, scopes with the trace id,
/// exception), with every string passed through <see cref="LogRedactor"/>. The console, the only log provider,
/// always uses it (<see cref="ObservabilityServiceCollectionExtensions"/>).
/// </summary>
internal sealed class RedactingJsonFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "redacted-json";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("Timestamp", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("LogLevel", logEntry.LogLevel.ToString());
            json.WriteString("Category", logEntry.Category);
            json.WriteNumber("EventId", logEntry.EventId.Id);
            json.WriteString("Message", LogRedactor.Redact(message));
            if (logEntry.Exception is { } exception)
            {
                json.WriteString("Exception", LogRedactor.Redact(exception.ToString()));
            }

            if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> state)
            {
                json.WriteStartObject("State");
                foreach (var (key, value) in state)
                {
                    json.WriteString(key, LogRedactor.Redact(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)));
                }

                json.WriteEndObject();
            }

            json.WriteStartObject("Scopes");
            scopeProvider?.ForEachScope((scope, writer) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object?>> pairs)
                {
                    foreach (var (key, value) in pairs)
                    {
                        if (key != "{OriginalFormat}")
                        {
                            writer.WriteString(key, LogRedactor.Redact(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)));
                        }
                    }
                }
            }, json);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        textWriter.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }
}
