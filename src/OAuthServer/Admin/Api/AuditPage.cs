using System.Text.Json;
using System.Text.Json.Serialization;

namespace OAuthServer.Admin;

internal sealed record AuditView(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("occurred_at")] DateTime OccurredAt,
    [property: JsonPropertyName("actor")] string Actor,
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("target_type")] string TargetType,
    [property: JsonPropertyName("target_id")] string TargetId,
    [property: JsonPropertyName("ip")] string? Ip,
    [property: JsonPropertyName("changes")] JsonElement Changes);

internal sealed record AuditPage(
    [property: JsonPropertyName("items")] IReadOnlyList<AuditView> Items,
    [property: JsonPropertyName("next")] string? Next);
