using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Protocol;

namespace OAuthServer.Admin;

internal static partial class AdminApi
{
    private static async Task<Results<Ok<AuditPage>, ValidationProblem>> ReadAuditAsync(
        Data.OAuthDbContext db, HttpContext context, DateTime? since, long? after, int? limit)
    {
        var size = Math.Clamp(limit ?? 100, 1, MaxPageSize);
        var query = db.AuditLog.AsNoTracking();
        if (since is { } from)
        {
            var utc = from.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(from, DateTimeKind.Utc) : from.ToUniversalTime();
            query = query.Where(entry => entry.OccurredAt >= utc);
        }

        if (after is { } cursor)
        {
            query = query.Where(entry => entry.Id > cursor);
        }

        var rows = await query.OrderBy(entry => entry.Id).Take(size).ToListAsync(context.RequestAborted);
        var items = rows.Select(row => new AuditView(
            row.Id, row.OccurredAt, row.Actor, row.Action, row.TargetType, row.TargetId, row.Ip, ParseChanges(row.Changes))).ToList();
        var next = rows.Count == size
            ? $"{ProtocolPaths.Admin}/audit?after={rows[^1].Id}&limit={size}" + (since is null ? string.Empty : $"&since={Uri.EscapeDataString(since.Value.ToString("O", System.Globalization.CultureInfo.InvariantCulture))}")
            : null;
        return TypedResults.Ok(new AuditPage(items, next));
    }

    private static JsonElement ParseChanges(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}
