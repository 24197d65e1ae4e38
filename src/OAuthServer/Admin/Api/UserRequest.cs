using System.Text.Json.Serialization;
using OAuthServer.Accounts;

namespace OAuthServer.Admin;

internal sealed record UserRequest(
    [property: JsonPropertyName("email")] string? Email,
    [property: JsonPropertyName("password")] string? Password);

internal sealed record PasswordRequest([property: JsonPropertyName("password")] string? Password);

/// <summary>A user as the admin API shows it: never the password hash or the security stamp.</summary>
internal sealed record UserView(
    [property: JsonPropertyName("id")] Guid Id,
    [property: JsonPropertyName("email")] string Email,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("locked_until")] DateTime? LockedUntil,
    [property: JsonPropertyName("failed_login_count")] int FailedLoginCount,
    [property: JsonPropertyName("created_at")] DateTime CreatedAt,
    [property: JsonPropertyName("updated_at")] DateTime UpdatedAt,
    [property: JsonPropertyName("is_administrator")] bool IsAdministrator)
{
    public static UserView From(User user) => new(
        user.Id, user.Email, user.Status.ToString().ToLowerInvariant(), user.LockedUntil, user.FailedLoginCount, user.CreatedAt, user.UpdatedAt, user.IsAdministrator);
}
