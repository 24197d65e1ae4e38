using System.Globalization;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Localization;
using Microsoft.Extensions.Options;
using OAuthServer.Events;
using OAuthServer.Html;
using OAuthServer.Mail;
using OAuthServer.Protocol;
using OAuthServer.Security;

namespace OAuthServer.Accounts.Recovery;

/// <summary>
/// <see cref="ProtocolPaths.ForgotPassword"/>: asks for an address and always answers "if an account exists, we
/// sent a link" (threat model 4.2). The post does the same work for every address (two budgets and an enqueue);
/// everything that depends on the account happens in <see cref="PasswordResetMailer"/>.
/// </summary>
internal sealed partial class ForgotPasswordPage
{
    // Note: a class with a settable property, not a record: a missing field binds as null instead of failing with 400.
    // A post with no field of the form at all binds no form (null).
    public sealed class Form
    {
        public string? Email { get; set; }
    }

    public static IResult Show(HttpContext context, IAntiforgery antiforgery, IStringLocalizer<ForgotPasswordPage> text, SmtpMailSender mail) =>
        mail.IsConfigured ? FormPage(context, antiforgery, text, email: null, error: null, StatusCodes.Status200OK) : Unavailable(text);

    public static async Task<IResult> RequestAsync(
        HttpContext context, IAntiforgery antiforgery, IStringLocalizer<ForgotPasswordPage> text, SmtpMailSender mail, RateLimits limits,
        PasswordResetQueue queue, IOptions<ServerOptions> server, IOptions<PasswordResetOptions> options, ILogger<ForgotPasswordPage> logger,
        [FromForm] Form? form)
    {
        // Note: a post with none of the form's fields binds no form at all.
        form ??= new Form();
        if (!mail.IsConfigured)
        {
            return Unavailable(text);
        }

        // Note: the sender's budget first: it is theirs alone to spend. The address's budget caps the mail one
        // mailbox can receive (no mail bombing from many sources); it is separate from the sign-in budgets, so
        // spending it never keeps the owner from signing in.
        if (await limits.AcquireAsync(RateLimits.ForgotPasswordPerIp, limits.AddressKey(context.Connection.RemoteIpAddress), context.RequestAborted) is { Allowed: false } flooded)
        {
            await RateLimitRejection.WriteAsync(context, flooded);
            return Results.Empty;
        }

        if (!EmailAddress.IsValid(form.Email))
        {
            return FormPage(context, antiforgery, text, form.Email, text["InvalidEmail"], StatusCodes.Status400BadRequest);
        }

        var email = form.Email!.Trim();
        if (await limits.AcquireAsync(RateLimits.ForgotPasswordPerAddress, EmailAddress.Normalize(email), context.RequestAborted) is { Allowed: false } bombed)
        {
            await RateLimitRejection.WriteAsync(context, bombed);
            return Results.Empty;
        }

        // Note: the link points at the configured issuer, never at the request's Host header, which the sender
        // chooses (reset-link poisoning). Only Development may run without an issuer.
        var linkBase = server.Value.Issuer ?? new Uri($"{context.Request.Scheme}://{context.Request.Host}{context.Request.PathBase}/");
        if (!queue.TryEnqueue(new PasswordResetRequest(email, RequestOrigin.From(context), CultureInfo.CurrentUICulture, linkBase)))
        {
            LogQueueFull(logger);
        }

        var minutes = ((int)options.Value.TokenLifetime.TotalMinutes).ToString(CultureInfo.CurrentCulture);
        return HtmlPage.Render(text["SentTitle"], $"""
            <p>{HtmlPage.Encode(text["Sent", minutes])}</p>
            <p><a href="{ProtocolPaths.Login}">{HtmlPage.Encode(text["BackToSignIn"])}</a></p>
            """);
    }

    private static IResult FormPage(HttpContext context, IAntiforgery antiforgery, IStringLocalizer<ForgotPasswordPage> text, string? email, string? error, int statusCode)
    {
        var errorHtml = error is null ? string.Empty : $"<p class=\"error\" role=\"alert\" tabindex=\"-1\" autofocus>{HtmlPage.Encode(error)}</p>";
        return HtmlPage.Render(text["Title"], $"""
            {errorHtml}
            <p>{HtmlPage.Encode(text["Intro"])}</p>
            <form method="post" action="{ProtocolPaths.ForgotPassword}">
              {HtmlPage.AntiforgeryField(antiforgery, context)}
              <label for="email">{HtmlPage.Encode(text["EmailLabel"])}</label>
              <input id="email" name="email" type="email" autocomplete="username" required value="{HtmlPage.Encode(email)}">
              <button type="submit">{HtmlPage.Encode(text["Submit"])}</button>
            </form>
            <p><a href="{ProtocolPaths.Login}">{HtmlPage.Encode(text["BackToSignIn"])}</a></p>
            """, statusCode);
    }

    private static IResult Unavailable(IStringLocalizer<ForgotPasswordPage> text) =>
        HtmlPage.Render(text["UnavailableTitle"], $"""
            <p>{HtmlPage.Encode(text["Unavailable"])}</p>
            <p><a href="{ProtocolPaths.Login}">{HtmlPage.Encode(text["BackToSignIn"])}</a></p>
            """);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The password-reset queue is full; a reset request was dropped")]
    private static partial void LogQueueFull(ILogger logger);
}
