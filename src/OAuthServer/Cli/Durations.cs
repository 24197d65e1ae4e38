using System.Globalization;
using System.Text.RegularExpressions;

namespace OAuthServer.Cli;

/// <summary>
/// Durations as operators write them: <c>30s</c>, <c>15m</c>, <c>24h</c>, <c>90d</c>, a plain <c>0</c>, or .NET's
/// <c>[d.]hh:mm:ss</c> (what the settings use, so a value copied from configuration works too).
/// </summary>
internal static partial class Durations
{
    private static readonly TimeSpan Limit = TimeSpan.FromDays(3650);

    public const string Hint = "a duration like 30s, 15m, 24h or 90d (or d.hh:mm:ss)";

    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var match = WithUnit().Match(text.Trim());
        if (match.Success)
        {
            var unit = match.Groups[2].Value switch { "s" => 1L, "m" => 60L, "h" => 3600L, "d" => 86400L, _ => 0L };
            var value = long.Parse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture);
            // Note: a bare number is ambiguous (seconds? days?) unless it is 0; and the bound (10 years) keeps a
            // typo from overflowing into a date that never comes.
            if ((unit == 0 && value != 0) || value > Limit.TotalSeconds / Math.Max(unit, 1))
            {
                return false;
            }

            duration = TimeSpan.FromSeconds(value * unit);
            return true;
        }

        return text.Contains(':', StringComparison.Ordinal)
            && TimeSpan.TryParseExact(text.Trim(), "c", CultureInfo.InvariantCulture, out duration)
            && duration >= TimeSpan.Zero && duration <= Limit;
    }

    [GeneratedRegex("^([0-9]{1,12})([smhd]?)$", RegexOptions.CultureInvariant)]
    private static partial Regex WithUnit();
}
