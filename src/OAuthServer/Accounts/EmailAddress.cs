using System.Net.Mail;
using System.Text;

namespace OAuthServer.Accounts;

internal static class EmailAddress
{
    /// <summary>
    /// The form used to look an account up: trimmed, NFKC-normalised and lower-cased, so that visually equal
    /// addresses can't open two accounts.
    /// </summary>
    public static string Normalize(string email)
    {
        ArgumentNullException.ThrowIfNull(email);
        return email.Trim().Normalize(NormalizationForm.FormKC).ToLowerInvariant();
    }

    public static bool IsValid(string? email)
    {
        if (string.IsNullOrWhiteSpace(email) || email.Length > 320)
        {
            return false;
        }

        return MailAddress.TryCreate(email.Trim(), out var parsed) && parsed.Address == email.Trim();
    }
}
