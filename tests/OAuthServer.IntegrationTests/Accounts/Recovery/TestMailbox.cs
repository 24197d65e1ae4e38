using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using MimeKit;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts.Recovery;

/// <summary>
/// The real SMTP server ops/test.sh runs (aiosmtpd on OAUTH_TEST_SMTP_PORT) and the Maildir it delivers into
/// (OAUTH_TEST_MAILDIR), read with MimeKit. Every test uses addresses of its own, so messages are found by recipient.
/// </summary>
internal static partial class TestMailbox
{
    private static readonly ConcurrentDictionary<string, MimeMessage> Parsed = new(StringComparer.Ordinal);

    public static int Port => int.Parse(Environment.GetEnvironmentVariable("OAUTH_TEST_SMTP_PORT")
        ?? throw new InvalidOperationException("OAUTH_TEST_SMTP_PORT is not set: run ops/test.sh, which starts the SMTP server."), System.Globalization.CultureInfo.InvariantCulture);

    public static string Maildir => Environment.GetEnvironmentVariable("OAUTH_TEST_MAILDIR")
        ?? throw new InvalidOperationException("OAUTH_TEST_MAILDIR is not set: run ops/test.sh, which starts the SMTP server.");

    public const string From = "no-reply@oauth.test";

    /// <summary>The settings that point a server at the test SMTP server (plain SMTP on loopback, no auth).</summary>
    public static Dictionary<string, string?> Settings(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Mail:Host"] = "127.0.0.1",
            ["Mail:Port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mail:Security"] = "None",
            ["Mail:FromAddress"] = From,
            ["Mail:FromName"] = "OAuthServer tests",
        };
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>Every message delivered so far to <paramref name="to"/>, oldest first.</summary>
    public static IReadOnlyList<MimeMessage> To(string to)
    {
        var found = new List<(DateTime Written, MimeMessage Message)>();
        foreach (var folder in new[] { "new", "cur" })
        {
            var path = Path.Combine(Maildir, folder);
            if (!Directory.Exists(path))
            {
                continue;
            }

            foreach (var file in Directory.EnumerateFiles(path))
            {
                var message = Parsed.GetOrAdd(file, path => MimeMessage.Load(path));
                if (message.To.Mailboxes.Any(mailbox => string.Equals(mailbox.Address, to, StringComparison.OrdinalIgnoreCase)))
                {
                    found.Add((File.GetLastWriteTimeUtc(file), message));
                }
            }
        }

        return [.. found.OrderBy(item => item.Written).ThenBy(item => item.Message.Date).Select(item => item.Message)];
    }

    /// <summary>Waits until <paramref name="count"/> messages have reached <paramref name="to"/>; returns them all.</summary>
    public static async Task<IReadOnlyList<MimeMessage>> WaitForAsync(string to, int count = 1, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var messages = To(to);
            if (messages.Count >= count || DateTime.UtcNow > deadline)
            {
                messages.Count.Should().BeGreaterThanOrEqualTo(count, $"{count} message(s) to {to} should reach the Maildir");
                return messages;
            }

            await Task.Delay(100);
        }
    }

    /// <summary>The reset link of a message (from its plain-text part), as a path and query on the server.</summary>
    public static Uri ResetLink(MimeMessage message)
    {
        var match = Link().Match(message.TextBody ?? string.Empty);
        match.Success.Should().BeTrue("the mail carries a reset link");
        return new Uri(match.Value);
    }

    /// <summary>The token of a reset link.</summary>
    public static string Token(Uri link) => BrowserFlow.Query(link)["token"];

    [GeneratedRegex(@"https?://\S+/account/reset-password\?token=[A-Za-z0-9_-]+")]
    private static partial Regex Link();
}
