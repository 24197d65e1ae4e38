using Microsoft.Extensions.Options;
using MimeKit;

namespace OAuthServer.Mail;

/// <summary>How the SMTP connection is protected.</summary>
internal enum MailSecurity
{
    /// <summary>Plain SMTP: only for a relay on the same host or a test server.</summary>
    None,

    /// <summary>SMTP submission (port 587) upgraded with STARTTLS; refused if the server doesn't offer it.</summary>
    StartTls,

    /// <summary>Implicit TLS from the first byte (port 465, RFC 8314).</summary>
    SslOnConnect,
}

/// <summary>
/// The <c>Mail</c> section: the SMTP server the password-reset mail goes through. Without a <see cref="Host"/>
/// no mail is sent and the forgot-password page says reset by e-mail isn't available.
/// </summary>
internal sealed class MailOptions
{
    public const string Section = "Mail";

    public string? Host { get; set; }

    /// <summary>Unset: 587 for STARTTLS, 465 for implicit TLS, 25 for plain SMTP.</summary>
    public int? Port { get; set; }

    /// <summary>
    /// Unset: <see cref="MailSecurity.StartTls"/>. Outside Development plain SMTP must be chosen explicitly, so a
    /// forgotten setting never sends reset links in clear over the network.
    /// </summary>
    public MailSecurity? Security { get; set; }

    public string? FromAddress { get; set; }

    public string? FromName { get; set; }

    /// <summary>Optional SMTP AUTH credentials; the password never appears in a log or an error.</summary>
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>The limit for each SMTP operation (connect, each command, the send).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    public bool IsConfigured => !string.IsNullOrWhiteSpace(Host);

    public MailSecurity EffectiveSecurity => Security ?? MailSecurity.StartTls;

    public int EffectivePort => Port ?? EffectiveSecurity switch
    {
        MailSecurity.SslOnConnect => 465,
        MailSecurity.None => 25,
        _ => 587,
    };
}

/// <summary>Checks the <c>Mail</c> section at start-up: a reset mail that can never leave is found before it's needed.</summary>
internal sealed class MailOptionsValidator(IHostEnvironment environment) : IValidateOptions<MailOptions>
{
    public ValidateOptionsResult Validate(string? name, MailOptions options)
    {
        if (!options.IsConfigured)
        {
            return ValidateOptionsResult.Success;
        }

        var failures = new List<string>();
        if (Uri.CheckHostName(options.Host!.Trim()) == UriHostNameType.Unknown)
        {
            failures.Add($"Mail:Host '{options.Host}' is not a host name or IP address.");
        }

        if (options.Port is < 1 or > 65535)
        {
            failures.Add("Mail:Port must be between 1 and 65535.");
        }

        if (string.IsNullOrWhiteSpace(options.FromAddress) || !MailboxAddress.TryParse(options.FromAddress, out var from) || from.Address != options.FromAddress.Trim())
        {
            failures.Add("Mail:FromAddress must be set to one e-mail address (the sender of the reset mail) when Mail:Host is set.");
        }

        if (options.FromName is { Length: > 200 })
        {
            failures.Add("Mail:FromName must be at most 200 characters.");
        }

        if (string.IsNullOrEmpty(options.Username) != string.IsNullOrEmpty(options.Password))
        {
            failures.Add("Mail:Username and Mail:Password are set together or not at all.");
        }

        if (options.Timeout < TimeSpan.FromSeconds(1) || options.Timeout > TimeSpan.FromMinutes(5))
        {
            failures.Add("Mail:Timeout must be between 00:00:01 and 00:05:00.");
        }

        // Note: threat model 4.3: the reset link is a credential for the account; outside a developer's machine it
        // (and any SMTP password) crosses the network only over TLS unless the operator says otherwise in so many words.
        if (!environment.IsDevelopment() && options.EffectiveSecurity == MailSecurity.None && !string.IsNullOrEmpty(options.Password))
        {
            failures.Add("Mail:Security is None but Mail:Password is set: the SMTP password would cross the network in clear. Use StartTls or SslOnConnect.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
