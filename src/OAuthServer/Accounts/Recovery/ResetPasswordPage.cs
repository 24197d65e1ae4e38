using System.Globalization;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Localization;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Html;
using OAuthServer.Protocol;
using OAuthServer.Security;

namespace OAuthServer.Accounts.Recovery;

/// <summary>
/// <see cref="ProtocolPaths.ResetPassword"/>: the page of the mailed link. Opening it spends nothing (mail scanners
/// prefetch links); only the post redeems the link, once, and then sets the password under the password policy,
/// ends every session, revokes every token and authorization of the user, and ends the automatic lockout.
/// </summary>
/// <remarks>
/// Note: the automatic lockout (threat model 1.2) throttles password guessing; whoever redeems the link has proved
/// control of the mailbox and replaced the password the guesses were aimed at, so the reset is the way out of it.
/// An operator's lock or a disable is not: such accounts get no link, and a link mailed before is refused.
/// </remarks>
internal sealed class ResetPasswordPage
{
    public sealed class Form
    {
        public string? Token { get; set; }

        public string? Password { get; set; }

        public string? ConfirmPassword { get; set; }
    }

    public static async Task<IResult> ShowAsync(
        HttpContext context, IAntiforgery antiforgery, IStringLocalizer<ResetPasswordPage> text, PasswordResetTokens tokens, [FromQuery] string? token)
    {
        NoStore(context);
        return await tokens.FindAsync(token, context.RequestAborted) is null
            ? Invalid(text)
            : FormPage(context, antiforgery, text, token!, error: null, StatusCodes.Status200OK);
    }

    public static async Task<IResult> ResetAsync(
        HttpContext context, IAntiforgery antiforgery, IStringLocalizer<ResetPasswordPage> text, RateLimits limits, PasswordResetTokens tokens,
        UserAccounts accounts, OAuthDbContext db, SecurityEvents events, IStringLocalizer<PasswordPolicy> policyText, [FromForm] Form? form)
    {
        // Note: a post with none of the form's fields binds no form at all.
        form ??= new Form();
        NoStore(context);
        if (await limits.AcquireAsync(RateLimits.ResetPasswordPerIp, limits.AddressKey(context.Connection.RemoteIpAddress), context.RequestAborted) is { Allowed: false } refused)
        {
            await RateLimitRejection.WriteAsync(context, refused);
            return Results.Empty;
        }

        if (await tokens.FindAsync(form.Token, context.RequestAborted) is not { } reset)
        {
            return Invalid(text);
        }

        if (string.IsNullOrEmpty(form.Password) || string.IsNullOrEmpty(form.ConfirmPassword))
        {
            return FormPage(context, antiforgery, text, form.Token!, text["Missing"], StatusCodes.Status400BadRequest);
        }

        if (!string.Equals(form.Password, form.ConfirmPassword, StringComparison.Ordinal))
        {
            return FormPage(context, antiforgery, text, form.Token!, text["Mismatch"], StatusCodes.Status400BadRequest);
        }

        // Note: the policy is checked before the link is spent, so a refused password leaves it usable.
        if (PasswordPolicy.Check(form.Password, reset.User.Email) is { } weak)
        {
            return FormPage(context, antiforgery, text, form.Token!, PasswordPolicy.Describe(policyText, weak), StatusCodes.Status400BadRequest);
        }

        if (!await tokens.RedeemAsync(reset.ResetId, context.RequestAborted))
        {
            return Invalid(text);
        }

        var origin = RequestOrigin.From(context);
        Outcome changed;
        try
        {
            // Sets the hash, rotates the security stamp (every browser session ends), forgets the trusted devices
            // and revokes the user's authorizations and tokens, in one transaction with its password.changed event.
            changed = await accounts.SetPasswordAsync(reset.User.Id, form.Password, origin, context.RequestAborted);
        }
        catch
        {
            // Note: the server was busy or away: that is not the person's fault, so the link works again.
            await tokens.ReleaseAsync(reset.ResetId);
            throw;
        }

        if (!changed.Succeeded)
        {
            await tokens.ReleaseAsync(reset.ResetId);
            return Invalid(text);
        }

        await db.InTransactionAsync(async () =>
        {
            await db.Users.Where(user => user.Id == reset.User.Id).ExecuteUpdateAsync(set => set
                .SetProperty(user => user.LockedUntil, (DateTime?)null)
                .SetProperty(user => user.FailedLoginCount, 0)
                .SetProperty(user => user.LockoutCount, 0), CancellationToken.None);
            await tokens.RemoveUnusedAsync(reset.User.Id, CancellationToken.None);
            events.Add(SecurityEventTypes.PasswordReset, origin, reset.User.Id);
            await db.SaveChangesAsync(CancellationToken.None);
        }, CancellationToken.None);

        // The stamp has changed, so this browser's session (if any) is over already; the cookie goes too.
        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return HtmlPage.Render(text["DoneTitle"], $"""
            <p role="status">{HtmlPage.Encode(text["Done"])}</p>
            <p><a href="{ProtocolPaths.Login}">{HtmlPage.Encode(text["SignIn"])}</a></p>
            """);
    }

    // Note: the page carries the token in its form; no cache may keep a copy.
    private static void NoStore(HttpContext context) => context.Response.Headers.CacheControl = "no-store";

    private static IResult FormPage(HttpContext context, IAntiforgery antiforgery, IStringLocalizer<ResetPasswordPage> text, string token, string? error, int statusCode)
    {
        var errorHtml = error is null ? string.Empty : $"<p class=\"error\" role=\"alert\" tabindex=\"-1\" autofocus>{HtmlPage.Encode(error)}</p>";
        var minimum = PasswordPolicy.MinimumLength.ToString(CultureInfo.InvariantCulture);
        return HtmlPage.Render(text["Title"], $"""
            {errorHtml}
            <form method="post" action="{ProtocolPaths.ResetPassword}">
              {HtmlPage.AntiforgeryField(antiforgery, context)}
              <input type="hidden" name="token" value="{HtmlPage.Encode(token)}">
              <label for="password">{HtmlPage.Encode(text["NewPasswordLabel"])}</label>
              <input id="password" name="password" type="password" autocomplete="new-password" required minlength="{minimum}" aria-describedby="password-hint">
              <p id="password-hint">{HtmlPage.Encode(text["Hint", PasswordPolicy.MinimumLength.ToString(CultureInfo.CurrentCulture)])}</p>
              <label for="confirmPassword">{HtmlPage.Encode(text["ConfirmLabel"])}</label>
              <input id="confirmPassword" name="confirmPassword" type="password" autocomplete="new-password" required minlength="{minimum}">
              <button type="submit">{HtmlPage.Encode(text["Submit"])}</button>
            </form>
            """, statusCode);
    }

    private static IResult Invalid(IStringLocalizer<ResetPasswordPage> text) =>
        HtmlPage.Render(text["InvalidTitle"], $"""
            <p class="error" role="alert" tabindex="-1" autofocus>{HtmlPage.Encode(text["Invalid"])}</p>
            <p><a href="{ProtocolPaths.ForgotPassword}">{HtmlPage.Encode(text["RequestNew"])}</a></p>
            """, StatusCodes.Status400BadRequest);
}
