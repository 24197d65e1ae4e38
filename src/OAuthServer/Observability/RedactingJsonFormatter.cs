using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace OAuthServer.Observability;

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
