using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Localization;
using OAuthServer.Accounts.Factors;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Html;
using OAuthServer.Protocol;
using OAuthServer.Security;

namespace OAuthServer.Accounts;

/// <summary>
/// The signed-in person's own page at <see cref="ProtocolPaths.Account"/>: change the password, see and revoke the
/// apps with access, see and end sessions, read the account's recent security events. Every action is a post that
/// is antiforgery-checked, rate limited (<see cref="RateLimits.AccountPerIp"/>, by the middleware), checked
/// against the current session (<see cref="BrowserSession.CurrentUserAsync"/>) and recorded as a security event.
/// </summary>
internal sealed class AccountPage
{
    /// <summary>How many of the account's security events the page shows, newest first.</summary>
    public const int RecentEventCount = 20;

    // The events a person is shown, each named in words by the resource Event_<type>; others (token-level
    // bookkeeping) stay for operators.
    private static readonly string[] ShownEventTypes =
    [
        SecurityEventTypes.LoginSucceeded, SecurityEventTypes.LoginFailed, SecurityEventTypes.AccountLocked,
        SecurityEventTypes.AccountUnlocked, SecurityEventTypes.AccountDisabled, SecurityEventTypes.AccountEnabled,
        SecurityEventTypes.PasswordChanged, SecurityEventTypes.UserCreated, SecurityEventTypes.SessionEnded,
        SecurityEventTypes.ConsentRevoked, SecurityEventTypes.DeviceApproved, SecurityEventTypes.DeviceDenied,
        SecurityEventTypes.FactorEnrolled, SecurityEventTypes.FactorRemoved, SecurityEventTypes.FactorFailed,
        SecurityEventTypes.RecoveryCodeUsed, SecurityEventTypes.PasskeyCloneDetected,
    ];

    private AccountPage()
    {
    }

    public sealed class PasswordForm
    {
        public string? CurrentPassword { get; set; }

        public string? NewPassword { get; set; }
    }

    public sealed class RevokeForm
    {
        public string? ClientId { get; set; }
    }

    public sealed class SessionForm
    {
        public string? SessionId { get; set; }
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet(ProtocolPaths.Account, ShowAsync).WithName("AccountPage").WithSummary("The signed-in person's account page.");
        app.MapPost(ProtocolPaths.AccountPassword, ChangePasswordAsync).WithName("AccountChangePassword").WithSummary("Changes the signed-in person's password.");
        app.MapPost(ProtocolPaths.AccountRevokeApp, RevokeAppAsync).WithName("AccountRevokeApp").WithSummary("Revokes an app's access to the account.");
        app.MapPost(ProtocolPaths.AccountEndSession, EndSessionAsync).WithName("AccountEndSession").WithSummary("Signs out one other session of the account.");
        app.MapPost(ProtocolPaths.AccountEndAllSessions, EndAllSessionsAsync).WithName("AccountEndAllSessions").WithSummary("Signs out every session of the account.");
    }

    private static async Task<IResult> ShowAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, Sections sections, [FromQuery] string? notice)
    {
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return await SignInAgainAsync(context);
        }

        var message = notice is { Length: > 0 and < 64 } && Notices.Contains(notice) ? sections.Text["Notice_" + notice].Value : null;
        return await sections.RenderAsync(context, antiforgery, user, message, error: null, StatusCodes.Status200OK);
    }

    private static async Task<IResult> ChangePasswordAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, UserAccounts accounts, RateLimits limits, DeviceCookies devices,
        Sections sections, IStringLocalizer<PasswordPolicy> policyText, [FromForm] PasswordForm? form)
    {
        // Note: a post with none of the form's fields binds no form at all; it must be a page, not a 500.
        form ??= new();
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return await SignInAgainAsync(context);
        }

        var text = sections.Text;
        if (string.IsNullOrEmpty(form.CurrentPassword) || string.IsNullOrEmpty(form.NewPassword))
        {
            return await sections.RenderAsync(context, antiforgery, user, null, text["EnterPasswords"], StatusCodes.Status400BadRequest);
        }

        // Note: two Argon2 runs per change: a budget of the session's own user, and a browser the user trusts has one
        // of its own, so a stolen session cookie can't spend the owner's (threat model 1.2).
        var trusted = await accounts.TrustedDeviceForAsync(user.Id, devices.Read(context), context.RequestAborted);
        var decision = await limits.AcquireAsync(RateLimits.PasswordChangePerUser, DeviceCookies.LoginBudgetKey(trusted, user.Email), context.RequestAborted);
        if (!decision.Allowed)
        {
            await RateLimitRejection.WriteAsync(context, decision);
            return Results.Empty;
        }

        var origin = RequestOrigin.From(context);
        var change = await accounts.ChangeOwnPasswordAsync(user, trusted, form.CurrentPassword, form.NewPassword, origin, context.RequestAborted);
        switch (change.Result)
        {
            case PasswordChangeResult.Changed:
                // Note: the stamp is new and every record ended, so this browser gets a new session of its own; it
                // keeps the factors this browser proved (the password, and a second factor if it had one).
                await session.StartAsync(
                    context, change.User!, [.. AuthenticationMethods.Of(context.User).Append(AuthenticationMethods.Password).Distinct()],
                    AuthenticationMethods.SecondFactorTime(context.User));
                return Results.Redirect(Notice("password_changed"));
            case PasswordChangeResult.Refused:
                return await sections.RenderAsync(
                    context, antiforgery, user, null, PasswordPolicy.Describe(policyText, change.Problem!), StatusCodes.Status400BadRequest);
            case PasswordChangeResult.WrongCurrentPassword:
                return await sections.RenderAsync(context, antiforgery, user, null, text["WrongCurrentPassword"], StatusCodes.Status400BadRequest);
            case PasswordChangeResult.Locked:
                return await sections.RenderAsync(context, antiforgery, user, null, text["PasswordLocked"], StatusCodes.Status429TooManyRequests);
            default:
                await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
                return HtmlPage.Render(text["Title"], $"<p class=\"error\" role=\"alert\" tabindex=\"-1\" autofocus>{HtmlPage.Encode(text["PasswordConflict"])}</p>"
                    + $"<p><a href=\"{HtmlPage.Encode(LoginUrl)}\">{HtmlPage.Encode(text["SignInAgain"])}</a></p>", StatusCodes.Status409Conflict);
        }
    }

    private static async Task<IResult> RevokeAppAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, Grants grants, Sections sections, [FromForm] RevokeForm? form)
    {
        // Note: a post with none of the form's fields binds no form at all; it must be a page, not a 500.
        form ??= new();
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return await SignInAgainAsync(context);
        }

        if (string.IsNullOrEmpty(form.ClientId) || form.ClientId.Length > 200
            || !(await grants.RevokeAsync(user.Id, form.ClientId, RequestOrigin.From(context), context.RequestAborted)).Succeeded)
        {
            return await sections.RenderAsync(context, antiforgery, user, null, sections.Text["AppNotFound"], StatusCodes.Status404NotFound);
        }

        return Results.Redirect(Notice("app_revoked"));
    }

    private static async Task<IResult> EndSessionAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, SessionRecords records, Sections sections, [FromForm] SessionForm? form)
    {
        // Note: a post with none of the form's fields binds no form at all; it must be a page, not a 500.
        form ??= new();
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return await SignInAgainAsync(context);
        }

        // Note: the record is matched with the session's own user, so another user's session id ends nothing.
        if (!Guid.TryParse(form.SessionId, out var sessionId)
            || sessionId == BrowserSession.SessionId(context.User)
            || !await records.EndAsync(user.Id, sessionId, RequestOrigin.From(context), context.RequestAborted))
        {
            return await sections.RenderAsync(context, antiforgery, user, null, sections.Text["SessionNotFound"], StatusCodes.Status404NotFound);
        }

        return Results.Redirect(Notice("session_ended"));
    }

    private static async Task<IResult> EndAllSessionsAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, SessionRecords records)
    {
        // Note: the form binds no fields, so the antiforgery token is checked here: another site can't sign a person out.
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return await SignInAgainAsync(context);
        }

        // Note: this browser's session ends too: a copy of this very cookie (the usual theft) is indistinguishable
        // from it, so "everywhere" must include it. The person signs in again, which is the proof we want.
        await records.EndAllAsync(user.Id, RequestOrigin.From(context), context.RequestAborted);
        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return Results.Redirect(LoginUrl);
    }

    private static readonly HashSet<string> Notices = new(["password_changed", "app_revoked", "session_ended"], StringComparer.Ordinal);

    private static readonly string LoginUrl = QueryHelpers.AddQueryString(ProtocolPaths.Login, "returnUrl", ProtocolPaths.Account);

    private static string Notice(string notice) => QueryHelpers.AddQueryString(ProtocolPaths.Account, "notice", notice);

    // No session, or one that is over (threat model 1.3): the cookie is dropped and the person signs in again,
    // coming back here.
    private static async Task<IResult> SignInAgainAsync(HttpContext context)
    {
        if (context.User.Identity?.IsAuthenticated == true)
        {
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        }

        return Results.Redirect(LoginUrl);
    }

    /// <summary>The page's four sections, read and rendered for one request.</summary>
    internal sealed class Sections(IStringLocalizer<AccountPage> text, SessionRecords records, Grants grants, OAuthDbContext db)
    {
        public IStringLocalizer<AccountPage> Text => text;

        public async Task<IResult> RenderAsync(HttpContext context, IAntiforgery antiforgery, User user, string? notice, string? error, int statusCode)
        {
            var token = HtmlPage.AntiforgeryField(antiforgery, context);
            var cancellationToken = context.RequestAborted;
            var body = new StringBuilder();
            if (error is not null)
            {
                body.Append(CultureInfo.InvariantCulture, $"<p class=\"error\" role=\"alert\" tabindex=\"-1\" autofocus>{HtmlPage.Encode(error)}</p>");
            }

            if (notice is not null)
            {
                body.Append(CultureInfo.InvariantCulture, $"<p class=\"notice\" role=\"status\">{HtmlPage.Encode(notice)}</p>");
            }

            body.Append(CultureInfo.InvariantCulture, $"<p>{HtmlPage.Encode(text["SignedInAs", user.Email])}</p>");
            AppendPassword(body, token);
            await TotpSection.AppendAsync(context, body, token, user);
            await RecoverySection.AppendAsync(context, body, token, user);
            await PasskeySection.AppendAsync(body, context, token, user);
            AppendApps(body, token, await grants.ListAsync(user.Id, cancellationToken));
            AppendSessions(body, token, await records.LiveAsync(user.Id, cancellationToken), BrowserSession.SessionId(context.User));
            AppendEvents(body, await RecentEventsAsync(user.Id, cancellationToken));
            return HtmlPage.Render(text["Title"], body.ToString(), statusCode);
        }

        private void AppendPassword(StringBuilder body, string token) => body.Append(CultureInfo.InvariantCulture, $"""
            <section aria-labelledby="password-heading">
            <h2 id="password-heading">{E(text["PasswordHeading"])}</h2>
            <form method="post" action="{ProtocolPaths.AccountPassword}">
              {token}
              <label for="current-password">{E(text["CurrentPassword"])}</label>
              <input id="current-password" name="currentPassword" type="password" autocomplete="current-password" required>
              <label for="new-password">{E(text["NewPassword"])}</label>
              <input id="new-password" name="newPassword" type="password" autocomplete="new-password" required minlength="{PasswordPolicy.MinimumLength}" maxlength="{PasswordPolicy.MaximumLength}" aria-describedby="new-password-hint">
              <p id="new-password-hint" class="hint">{E(text["PasswordHint", PasswordPolicy.MinimumLength])}</p>
              <button type="submit">{E(text["ChangePasswordButton"])}</button>
            </form>
            </section>
            """);

        private void AppendApps(StringBuilder body, string token, IReadOnlyList<Grant> list)
        {
            body.Append(CultureInfo.InvariantCulture, $"<section aria-labelledby=\"apps-heading\"><h2 id=\"apps-heading\">{E(text["AppsHeading"])}</h2>");
            if (list.Count == 0)
            {
                body.Append(CultureInfo.InvariantCulture, $"<p>{E(text["NoApps"])}</p>");
            }
            else
            {
                body.Append("<ul class=\"apps\">");
                foreach (var app in list)
                {
                    var since = app.GrantedAt is { } at ? E(text["AppSince", TimeText(at.UtcDateTime)]) : string.Empty;
                    body.Append(CultureInfo.InvariantCulture, $"""
                        <li class="app"><strong>{E(app.ClientDisplayName)}</strong>
                          <p>{E(text["AppScopes", string.Join(", ", app.Scopes)])}</p>
                          <p>{since}</p>
                          <form method="post" action="{ProtocolPaths.AccountRevokeApp}">
                            {token}
                            <input type="hidden" name="clientId" value="{E(app.ClientId)}">
                            <button type="submit" aria-label="{E(text["RevokeButtonFor", app.ClientDisplayName])}">{E(text["RevokeButton"])}</button>
                          </form>
                        </li>
                        """);
                }

                body.Append("</ul>");
            }

            body.Append("</section>");
        }

        private void AppendSessions(StringBuilder body, string token, List<SessionRecord> list, Guid? current)
        {
            body.Append(CultureInfo.InvariantCulture, $"<section aria-labelledby=\"sessions-heading\"><h2 id=\"sessions-heading\">{E(text["SessionsHeading"])}</h2><ul class=\"sessions\">");
            foreach (var record in list)
            {
                var browser = string.IsNullOrWhiteSpace(record.UserAgent) ? text["UnknownBrowser"].Value : record.UserAgent;
                var details = E(text["SessionDetails", TimeText(record.CreatedAt), TimeText(record.LastSeenAt), record.Ip ?? "?"]);
                var action = record.Id == current
                    ? $"<p><strong class=\"this-session\">{E(text["ThisSession"])}</strong></p>"
                      + $"<form method=\"post\" action=\"{ProtocolPaths.Logout}\">{token}<button type=\"submit\">{E(text["SignOutHere"])}</button></form>"
                    : $"<form method=\"post\" action=\"{ProtocolPaths.AccountEndSession}\">{token}"
                      + $"<input type=\"hidden\" name=\"sessionId\" value=\"{record.Id:N}\">"
                      + $"<button type=\"submit\">{E(text["EndSessionButton"])}</button></form>";
                body.Append(CultureInfo.InvariantCulture, $"<li class=\"session\"><span class=\"browser\">{E(browser)}</span><p>{details}</p>{action}</li>");
            }

            body.Append(CultureInfo.InvariantCulture, $"""
                </ul>
                <form method="post" action="{ProtocolPaths.AccountEndAllSessions}">
                  {token}
                  <p id="end-all-hint" class="hint">{E(text["EndAllHint"])}</p>
                  <button type="submit" aria-describedby="end-all-hint">{E(text["EndAllButton"])}</button>
                </form>
                </section>
                """);
        }

        private void AppendEvents(StringBuilder body, List<SecurityEvent> list)
        {
            body.Append(CultureInfo.InvariantCulture, $"<section aria-labelledby=\"events-heading\"><h2 id=\"events-heading\">{E(text["EventsHeading"])}</h2>");
            if (list.Count == 0)
            {
                body.Append(CultureInfo.InvariantCulture, $"<p>{E(text["NoEvents"])}</p></section>");
                return;
            }

            body.Append(CultureInfo.InvariantCulture, $"""
                <div class="table-scroll" role="region" aria-labelledby="events-heading" tabindex="0"><table class="events"><thead><tr><th scope="col">{E(text["EventTime"])}</th><th scope="col">{E(text["EventType"])}</th><th scope="col">{E(text["EventIp"])}</th></tr></thead><tbody>
                """);
            foreach (var item in list)
            {
                var type = text["Event_" + item.Type];
                body.Append(CultureInfo.InvariantCulture, $"<tr class=\"event\" data-type=\"{E(item.Type)}\"><td>{Time(item.OccurredAt)}</td><td>{E(type.ResourceNotFound ? item.Type : type.Value)}</td><td>{E(item.Ip)}</td></tr>");
            }

            body.Append("</tbody></table></div></section>");
        }

        // Note: only the columns the page shows are read: the events' data and user agents stay where they are.
        private async Task<List<SecurityEvent>> RecentEventsAsync(Guid userId, CancellationToken cancellationToken)
        {
            var rows = await db.SecurityEvents.AsNoTracking()
                .Where(item => item.UserId == userId && ShownEventTypes.Contains(item.Type))
                .OrderByDescending(item => item.OccurredAt)
                .Take(RecentEventCount)
                .Select(item => new { item.Type, item.OccurredAt, item.Ip })
                .ToListAsync(cancellationToken);
            return [.. rows.Select(row => new SecurityEvent { Type = row.Type, OccurredAt = row.OccurredAt, Ip = row.Ip })];
        }

        private static string Time(DateTime utc) =>
            $"<time datetime=\"{utc.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}\">{TimeText(utc)}</time>";

        private static string TimeText(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC";

        private static string E(string? value) => HtmlPage.Encode(value);
    }
}
