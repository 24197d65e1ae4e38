using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace OAuthServer.Mail;

/// <summary>One message to one person: a plain-text body and an HTML alternative.</summary>
internal sealed record OutgoingMail(string To, string Subject, string TextBody, string HtmlBody);

/// <summary>
/// Sends mail through the configured SMTP server with MailKit: one connection per message (reset mail is rare),
/// TLS as <see cref="MailOptions.Security"/> says, AUTH when credentials are set.
/// </summary>
/// <remarks>
/// Note: called from background work only, never on a request: the SMTP round trip must not show in how long a
/// page takes (threat model 4.2). Errors name the server and the SMTP status, never the message body: it
/// carries a reset link.
/// </remarks>
internal sealed class SmtpMailSender(IOptions<MailOptions> options)
{
    public bool IsConfigured => options.Value.IsConfigured;

    public async Task SendAsync(OutgoingMail mail, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(mail);
        var settings = options.Value;
        if (!settings.IsConfigured)
        {
            throw new InvalidOperationException("Mail:Host is not set: no mail can be sent.");
        }

        using var message = new MimeMessage();
        message.From.Add(new MailboxAddress(settings.FromName ?? string.Empty, settings.FromAddress!.Trim()));
        message.To.Add(MailboxAddress.Parse(mail.To));
        message.Subject = mail.Subject;
        message.Body = new BodyBuilder { TextBody = mail.TextBody, HtmlBody = mail.HtmlBody }.ToMessageBody();

        using var client = new SmtpClient { Timeout = (int)settings.Timeout.TotalMilliseconds };
        var security = settings.EffectiveSecurity switch
        {
            MailSecurity.None => SecureSocketOptions.None,
            MailSecurity.SslOnConnect => SecureSocketOptions.SslOnConnect,
            _ => SecureSocketOptions.StartTls,
        };
        await client.ConnectAsync(settings.Host!.Trim(), settings.EffectivePort, security, cancellationToken);
        if (!string.IsNullOrEmpty(settings.Username))
        {
            await client.AuthenticateAsync(settings.Username, settings.Password ?? string.Empty, cancellationToken);
        }

        await client.SendAsync(message, cancellationToken);
        await client.DisconnectAsync(quit: true, cancellationToken);
    }
}

internal static class MailServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthMail(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<MailOptions>().BindConfiguration(MailOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<MailOptions>, MailOptionsValidator>();
        builder.Services.AddSingleton<SmtpMailSender>();
        return builder;
    }
}
