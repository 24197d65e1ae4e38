using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;

namespace OAuthServer.Accounts;

/// <summary>What the consent page showed one person: the client, the scopes, and where to go back to.</summary>
internal sealed record ConsentTicket(Guid UserId, string ClientId, IReadOnlyList<string> Scopes, string ReturnUrl);

/// <summary>
/// Seals what the consent page showed into the form (Data Protection: encrypted and authenticated, short-lived), so
/// the POST records exactly that: a tampered client_id or scope list, another person's form, or an old one is refused
/// instead of becoming a grant nobody was shown.
/// </summary>
internal sealed class ConsentTickets(IDataProtectionProvider provider)
{
    public const string FieldName = "ticket";

    private const int MaxLength = 16 * 1024;
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(15);

    private readonly ITimeLimitedDataProtector _protector = provider.CreateProtector("OAuthServer.Accounts.ConsentTicket.v1").ToTimeLimitedDataProtector();

    public string Protect(ConsentTicket ticket) => _protector.Protect(JsonSerializer.Serialize(ticket), Lifetime);

    /// <summary>The ticket, or null when it is missing, altered, expired or not one of ours.</summary>
    public ConsentTicket? Unprotect(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<ConsentTicket>(_protector.Unprotect(value, out _));
        }
        catch (Exception exception) when (exception is CryptographicException or JsonException or FormatException)
        {
            return null;
        }
    }
}
