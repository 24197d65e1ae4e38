using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Localization;
using Microsoft.Extensions.Options;
using OAuthServer.Accounts.Factors;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Html;
using OAuthServer.Protocol;

namespace OAuthServer.Accounts;

/// <summary>
/// The account page's authenticator-app section, and its enrolment: a new secret shown once (QR code, otpauth URI
/// and base32), confirmed by a first code, which also steps the session up and makes the recovery codes; removal
/// needs a current code or the password. Every post is antiforgery-checked, needs a current session, and spends the
/// account page's per-address budget (the middleware); a code or password also spends the account's failure budget.
/// </summary>
internal sealed class TotpSection
{
    private TotpSection()
    {
    }

    public sealed class SetupForm
    {
        public string? ReturnUrl { get; set; }
    }

    public sealed class ConfirmForm
    {
        public string? Code { get; set; }

        public string? ReturnUrl { get; set; }
    }

    public sealed class RemoveForm
    {
        public string? Code { get; set; }

        public string? Password { get; set; }
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost(ProtocolPaths.AccountTotpSetup, SetupAsync).WithName("AccountTotpSetup").WithSummary("Starts enrolling an authenticator app: shows its secret once.");
        app.MapPost(ProtocolPaths.AccountTotpConfirm, ConfirmAsync).WithName("AccountTotpConfirm").WithSummary("Confirms an authenticator app with its first code.");
        app.MapPost(ProtocolPaths.AccountTotpRemove, RemoveAsync).WithName("AccountTotpRemove").WithSummary("Removes the authenticator app (needs a code or the password).");
    }

    /// <summary>The section on the account page (nothing when the server has no second-factor key).</summary>
    public static async Task AppendAsync(HttpContext context, StringBuilder body, string token, User user)
    {
        var services = context.RequestServices;
        var totp = services.GetRequiredService<TotpAuthenticators>();
        if (!totp.Available)
        {
            return;
        }

        var text = services.GetRequiredService<IStringLocalizer<TotpSection>>();
        body.Append(CultureInfo.InvariantCulture, $"<section aria-labelledby=\"totp-heading\"><h2 id=\"totp-heading\">{E(text["Heading"])}</h2>");
        if (await totp.ConfirmedAtAsync(user.Id, context.RequestAborted) is { } confirmedAt)
        {
            body.Append(CultureInfo.InvariantCulture, $"""
                <p>{E(text["Enrolled", confirmedAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC"])}</p>
                <form method="post" action="{ProtocolPaths.AccountTotpRemove}">
                  {token}
                  <p id="totp-remove-hint" class="hint">{E(text["RemoveHint"])}</p>
                  <label for="totp-remove-code">{E(text["Code"])}</label>
                  <input id="totp-remove-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8" aria-describedby="totp-remove-hint">
                  <label for="totp-remove-password">{E(text["OrPassword"])}</label>
                  <input id="totp-remove-password" name="password" type="password" autocomplete="current-password" aria-describedby="totp-remove-hint">
                  <button type="submit">{E(text["RemoveButton"])}</button>
                </form>
                </section>
                """);
            return;
        }

        // Note: a returnUrl on the account page is where a sign-in that asked for a second factor continues once one
        // is enrolled; it travels through the enrolment forms.
        var returnUrl = context.Request.Query["returnUrl"].ToString() is { Length: > 0 } asked ? ReturnUrls.Safe(asked) : ProtocolPaths.Account;
        body.Append(CultureInfo.InvariantCulture, $"""
            <p>{E(text["NotEnrolled"])}</p>
            <form method="post" action="{ProtocolPaths.AccountTotpSetup}">
              {token}
              <input type="hidden" name="returnUrl" value="{E(returnUrl)}">
              <button type="submit">{E(text["SetupButton"])}</button>
            </form>
            </section>
            """);
    }

    private static async Task<IResult> SetupAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, TotpAuthenticators totp, IOptions<BrandingOptions> branding,
        IStringLocalizer<TotpSection> text, [FromForm] SetupForm? form)
    {
        form ??= new();
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return await SignInAgainAsync(context);
        }

        if (!totp.Available || await totp.BeginAsync(user, branding.Value.ProductName, context.RequestAborted) is not { } enrolment)
        {
            return Results.Redirect(ProtocolPaths.Account);
        }

        return EnrolmentPage(context, antiforgery, text, enrolment, ReturnUrls.Safe(form.ReturnUrl), error: null, StatusCodes.Status200OK);
    }

    private static async Task<IResult> ConfirmAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, TotpAuthenticators totp, RecoveryCodes recovery, SecurityEvents events,
        OAuthDbContext db, IOptions<BrandingOptions> branding, Observability.OAuthMetrics metrics, IStringLocalizer<TotpSection> text,
        IStringLocalizer<RecoverySection> recoveryText, [FromForm] ConfirmForm? form)
    {
        form ??= new();
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return await SignInAgainAsync(context);
        }

        var returnUrl = ReturnUrls.Safe(form.ReturnUrl);
        if (!totp.Available)
        {
            return Results.Redirect(ProtocolPaths.Account);
        }

        // Note: no failure budget here: the secret was shown to this very session a moment ago, so a wrong first
        // code guesses nothing; the account page's per-address budget still bounds the posts.
        if (string.IsNullOrWhiteSpace(form.Code) || !await totp.ConfirmAsync(user.Id, form.Code, context.RequestAborted))
        {
            if (await totp.PendingAsync(user, branding.Value.ProductName, context.RequestAborted) is not { } enrolment)
            {
                return Results.Redirect(ProtocolPaths.Account);
            }

            return EnrolmentPage(context, antiforgery, text, enrolment, returnUrl, text["WrongCode"], StatusCodes.Status400BadRequest);
        }

        var codes = await recovery.ReplaceAsync(user.Id, CancellationToken.None);
        var origin = RequestOrigin.From(context);
        events.Add(SecurityEventTypes.FactorEnrolled, origin, user.Id, new { method = "totp" });
        events.Add(SecurityEventTypes.FactorEnrolled, origin, user.Id, new { method = "recovery_codes" });
        await db.SaveChangesAsync(CancellationToken.None);
        metrics.SecondFactorVerifications.Add(1, new KeyValuePair<string, object?>("method", "totp"), new KeyValuePair<string, object?>("result", "success"));
        // Note: the first code proves the app in this browser's hands: the session now has a second factor, so a
        // sign-in that asked for one continues at returnUrl.
        await session.AddSecondFactorAsync(context, context.User, user, AuthenticationMethods.OneTimePassword);
        return RecoverySection.CodesPage(recoveryText, codes, returnUrl, enrolled: true);
    }

    private static async Task<IResult> RemoveAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, TotpAuthenticators totp, RecoveryCodes recovery, SecondFactors factors,
        UserAccounts accounts, DeviceCookies devices, SecurityEvents events, OAuthDbContext db, AccountPage.Sections sections,
        IStringLocalizer<TotpSection> text, [FromForm] RemoveForm? form)
    {
        form ??= new();
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return await SignInAgainAsync(context);
        }

        var origin = RequestOrigin.From(context);
        // Note: a stolen session cookie must not be enough to strip the second factor: a current code or the
        // password is checked on the account's failure budget, like a sign-in.
        FactorCheck check;
        var trusted = await accounts.TrustedDeviceForAsync(user.Id, devices.Read(context), context.RequestAborted);
        if (!string.IsNullOrWhiteSpace(form.Code))
        {
            check = await accounts.CheckSecondFactorAsync(user, trusted, "totp", cancellationToken => totp.UseAsync(user.Id, form.Code, cancellationToken), origin, context.RequestAborted);
        }
        else if (!string.IsNullOrEmpty(form.Password))
        {
            check = await accounts.CheckOwnPasswordAsync(user, trusted, form.Password, origin, context.RequestAborted);
        }
        else
        {
            return await sections.RenderAsync(context, antiforgery, user, null, text["RemoveMissing"], StatusCodes.Status400BadRequest);
        }

        if (check != FactorCheck.Verified)
        {
            return await sections.RenderAsync(
                context, antiforgery, user, null, text[check == FactorCheck.Locked ? "RemoveLocked" : "RemoveWrong"], StatusCodes.Status401Unauthorized);
        }

        if (await totp.RemoveAsync(user.Id, CancellationToken.None))
        {
            // Note: recovery codes are a way back to a second factor; with none left they would be one themselves.
            if ((await factors.EnrolledAsync(user.Id, CancellationToken.None)).Passkeys == 0)
            {
                await recovery.RemoveAllAsync(user.Id, CancellationToken.None);
            }

            events.Add(SecurityEventTypes.FactorRemoved, origin, user.Id, new { method = "totp" });
            await db.SaveChangesAsync(CancellationToken.None);
        }

        return Results.Redirect(ProtocolPaths.Account);
    }

    // The enrolment page: the secret three ways (QR code, otpauth link, base32 to type), and the first-code form.
    private static IResult EnrolmentPage(
        HttpContext context, IAntiforgery antiforgery, IStringLocalizer<TotpSection> text, TotpEnrolment enrolment, string returnUrl, string? error, int statusCode)
    {
        var errorHtml = error is null ? string.Empty : $"<p class=\"error\" id=\"totp-error\" role=\"alert\" tabindex=\"-1\" autofocus>{E(error)}</p>";
        var described = error is null ? " aria-describedby=\"totp-confirm-hint\"" : " aria-describedby=\"totp-confirm-hint totp-error\"";
        var grouped = string.Join(' ', enrolment.Base32.Chunk(4).Select(chunk => new string(chunk)));
        return HtmlPage.Render(text["SetupTitle"], $"""
            {errorHtml}
            <p>{E(text["SetupIntro"])}</p>
            <section aria-labelledby="totp-scan-heading">
            <h2 id="totp-scan-heading">{E(text["ScanHeading"])}</h2>
            {TotpQrCode.Svg(enrolment.Uri, text["QrLabel"])}
            <p><a href="{E(enrolment.Uri)}">{E(text["OpenInApp"])}</a></p>
            <p>{E(text["ManualKey"])} <code class="totp-secret">{E(grouped)}</code></p>
            <p class="hint">{E(text["ManualDetails"])}</p>
            </section>
            <section aria-labelledby="totp-confirm-heading">
            <h2 id="totp-confirm-heading">{E(text["ConfirmHeading"])}</h2>
            <form method="post" action="{ProtocolPaths.AccountTotpConfirm}">
              {HtmlPage.AntiforgeryField(antiforgery, context)}
              <input type="hidden" name="returnUrl" value="{E(returnUrl)}">
              <label for="totp-confirm-code">{E(text["Code"])}</label>
              <input id="totp-confirm-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8" required{described}{(error is null ? string.Empty : " autofocus")}>
              <p id="totp-confirm-hint" class="hint">{E(text["ConfirmHint"])}</p>
              <button type="submit">{E(text["ConfirmButton"])}</button>
            </form>
            </section>
            <p><a href="{ProtocolPaths.Account}">{E(text["Cancel"])}</a></p>
            """, statusCode);
    }

    internal static async Task<IResult> SignInAgainAsync(HttpContext context)
    {
        if (context.User.Identity?.IsAuthenticated == true)
        {
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        }

        return Results.Redirect(QueryHelpers.AddQueryString(ProtocolPaths.Login, "returnUrl", ProtocolPaths.Account));
    }

    private static string E(string? value) => HtmlPage.Encode(value);
}
