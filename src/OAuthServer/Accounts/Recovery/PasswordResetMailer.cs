using System.Globalization;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Localization;
using Microsoft.Extensions.Options;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Html;
using OAuthServer.Mail;

namespace OAuthServer.Accounts.Recovery;

/// <summary>
/// One forgot-password submission, as the page took it: the address typed, who sent it, the language of the page,
/// and where the link must point.
/// </summary>
internal sealed record PasswordResetRequest(string Email, RequestOrigin Origin, CultureInfo Culture, Uri LinkBase);

/// <summary>
/// The queue between the forgot-password page and the mailer. The page only enqueues, whatever the address:
/// looking the account up, creating the link and the SMTP round trip all happen behind it, so a known and an
/// unknown address get the same answer after the same work (threat model 4.2).
/// </summary>
internal sealed class PasswordResetQueue(IOptions<PasswordResetOptions> options)
{
    private readonly Channel<PasswordResetRequest> _channel = Channel.CreateBounded<PasswordResetRequest>(
        new BoundedChannelOptions(options.Value.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    /// <summary>False when the queue is full: the request is dropped, and the page answers the same.</summary>
    public bool TryEnqueue(PasswordResetRequest request) => _channel.Writer.TryWrite(request);

    public ChannelReader<PasswordResetRequest> Reader => _channel.Reader;
}

/// <summary>
/// Works the queue one request at a time: finds the account, and for one that may sign in issues a link and mails
/// it. Unknown addresses get nothing; disabled and operator-locked accounts get no mail (their way back is the
/// operator), only the event. A failure is logged without the link and never stops the service.
/// </summary>
internal sealed partial class PasswordResetMailer(
    PasswordResetQueue queue, IServiceScopeFactory scopes, SmtpMailSender sender, IStringLocalizerFactory localizers,
    IOptions<PasswordResetOptions> options, ILogger<PasswordResetMailer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var request in queue.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await HandleAsync(request, stoppingToken);
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    // Note: the message of an SMTP or database error names the server and the status, not the link.
                    LogFailed(logger, exception.GetType().Name, exception.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task HandleAsync(PasswordResetRequest request, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OAuthDbContext>();
        var normalized = EmailAddress.Normalize(request.Email);
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(row => row.NormalizedEmail == normalized, cancellationToken);
        if (user is null)
        {
            LogUnknown(logger, request.Origin.Ip);
            return;
        }

        if (user.Status != AccountStatus.Active)
        {
            var events = scope.ServiceProvider.GetRequiredService<SecurityEvents>();
            events.Add(SecurityEventTypes.PasswordResetRequested, request.Origin, user.Id,
                new { outcome = user.Status == AccountStatus.Disabled ? "account_disabled" : "account_locked" });
            await db.SaveChangesAsync(cancellationToken);
            LogRefused(logger, user.Id, user.Status);
            return;
        }

        var token = await scope.ServiceProvider.GetRequiredService<PasswordResetTokens>().IssueAsync(user, request.Origin, cancellationToken);
        var link = $"{request.LinkBase.GetLeftPart(UriPartial.Path).TrimEnd('/')}{Protocol.ProtocolPaths.ResetPassword}?token={token}";
        await sender.SendAsync(Compose(user.Email, link, request.Culture), cancellationToken);
        LogMailed(logger, user.Id);
    }

    private OutgoingMail Compose(string to, string link, CultureInfo culture)
    {
        var previous = CultureInfo.CurrentUICulture;
        CultureInfo.CurrentUICulture = culture;
        try
        {
            var text = localizers.Create(typeof(PasswordResetMail));
            var minutes = ((int)options.Value.TokenLifetime.TotalMinutes).ToString(culture);
            var intro = text["Intro"].Value;
            var validity = string.Format(culture, text["Validity"].Value, minutes);
            var ignore = text["Ignore"].Value;
            return new OutgoingMail(
                to,
                text["Subject"].Value,
                $"{intro}\n\n{link}\n\n{validity}\n\n{ignore}\n",
                $"""
                <p>{HtmlPage.Encode(intro)}</p>
                <p><a href="{HtmlPage.Encode(link)}">{HtmlPage.Encode(text["Action"].Value)}</a></p>
                <p>{HtmlPage.Encode(validity)}</p>
                <p>{HtmlPage.Encode(ignore)}</p>
                """);
        }
        finally
        {
            CultureInfo.CurrentUICulture = previous;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "A password reset was asked for an address with no account, from {Ip}; nothing was sent")]
    private static partial void LogUnknown(ILogger logger, string? ip);

    [LoggerMessage(Level = LogLevel.Information, Message = "A password reset was asked for user {UserId}, whose account is {Status}; nothing was sent")]
    private static partial void LogRefused(ILogger logger, Guid userId, AccountStatus status);

    [LoggerMessage(Level = LogLevel.Information, Message = "A password-reset link was mailed to user {UserId}")]
    private static partial void LogMailed(ILogger logger, Guid userId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A password-reset request failed ({ExceptionType}: {Reason}); the person can ask again")]
    private static partial void LogFailed(ILogger logger, string exceptionType, string reason);
}
