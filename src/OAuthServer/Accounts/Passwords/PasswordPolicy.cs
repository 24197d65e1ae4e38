using System.Globalization;
using System.Text;
using Microsoft.Extensions.Localization;

namespace OAuthServer.Accounts;

/// <summary>
/// NIST SP 800-63B §5.1.1.2: length, not composition. 12 to 128 characters counted as Unicode code points
/// after NFKC normalisation; no character-class rules; refused if the password is a known common or breached
/// password or contains the local part of the user's email. Applied wherever a password is set; a refusal is a
/// <see cref="Problem"/> of the <c>password</c> field whose code names the rule.
/// </summary>
internal sealed class PasswordPolicy
{
    public const int MinimumLength = 12;
    public const int MaximumLength = 128;

    // Note: the shortest email local part worth refusing; "contains 'a'" would refuse almost every password.
    private const int MinimumLocalPartLength = 3;

    private static readonly Lazy<HashSet<string>> CommonPasswords = new(LoadCommonPasswords);

    public static int CommonPasswordCount => CommonPasswords.Value.Count;

    public static Problem? Check(string password, string email)
    {
        ArgumentNullException.ThrowIfNull(password);
        var normalized = password.Normalize(NormalizationForm.FormKC);
        var length = normalized.EnumerateRunes().Count();
        if (length < MinimumLength)
        {
            return Refused("password_too_short", $"The password must be at least {MinimumLength} characters long.");
        }

        if (length > MaximumLength)
        {
            return Refused("password_too_long", $"The password must be at most {MaximumLength} characters long.");
        }

        var folded = normalized.ToLowerInvariant();
        if (IsRepetitiveOrSequential(folded))
        {
            return Refused("password_repetitive", "The password is a repeated or sequential run of characters (like aaaa or 1234): choose another one.");
        }

        if (IsCommon(folded))
        {
            return Refused("password_common", "The password is on a list of common or breached passwords: choose another one.");
        }

        var localPart = EmailAddress.Normalize(email).Split('@')[0];
        if (localPart.Length >= MinimumLocalPartLength && folded.Contains(localPart, StringComparison.Ordinal))
        {
            return Refused("password_contains_email", "The password must not contain the email address's name.");
        }

        return null;
    }

    /// <summary>A refusal of <see cref="Check"/> in the person's language (the English message when a code has no string).</summary>
    public static string Describe(IStringLocalizer<PasswordPolicy> text, Problem problem)
    {
        var localized = text[problem.Code, MinimumLength.ToString(CultureInfo.CurrentCulture), MaximumLength.ToString(CultureInfo.CurrentCulture)];
        return localized.ResourceNotFound ? problem.Message : localized.Value;
    }

    private static Problem Refused(string code, string message) => Problem.Invalid("password", message, code);

    // The list holds the breached passwords themselves; a 12-character minimum means attackers try them with
    // digits or symbols around them ("password2024!") or doubled ("qwertyqwerty"), so those count as common too.
    private static bool IsCommon(string folded)
    {
        if (CommonPasswords.Value.Contains(folded))
        {
            return true;
        }

        var core = folded.Trim("0123456789!@#$%^&*()-_=+.,?~ ".ToCharArray());
        if (core.Length >= 4 && CommonPasswords.Value.Contains(core))
        {
            return true;
        }

        for (var unit = 4; unit <= folded.Length / 2; unit++)
        {
            if (folded.Length % unit == 0 && string.Concat(Enumerable.Repeat(folded[..unit], folded.Length / unit)) == folded)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsRepetitiveOrSequential(string folded)
    {
        var runes = folded.EnumerateRunes().Select(rune => rune.Value).ToArray();
        if (runes.Distinct().Count() < 4)
        {
            return true;
        }

        var step = runes[1] - runes[0];
        return step is 1 or -1 && runes.Zip(runes.Skip(1)).All(pair => pair.Second - pair.First == step || (pair.First == '9' && pair.Second == '0' && step == 1));
    }

    private static HashSet<string> LoadCommonPasswords()
    {
        using var stream = typeof(PasswordPolicy).Assembly.GetManifestResourceStream("OAuthServer.Accounts.common-passwords.txt")
            ?? throw new InvalidOperationException("The common-password list is not embedded in the assembly.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var set = new HashSet<string>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                set.Add(line);
            }
        }

        return set;
    }
}
