using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Localization;
using OAuthServer.Accounts.Factors;
using OAuthServer.Events;
using OAuthServer.Html;
using OAuthServer.Protocol;
using OAuthServer.Security;

namespace OAuthServer.Accounts;

/// <summary>
/// The second step of a sign-in at <see cref="ProtocolPaths.SecondFactor"/>: a code from an authenticator app, a
/// recovery code, or another method a <see cref="ISecondFactorMethodSection"/> adds (a passkey). It finishes a
/// pending sign-in (<see cref="PendingSignIn"/>: a session starts with both factors), or steps up the current
/// session (acr_values, a client or the policy asked for a second factor).
/// </summary>
internal sealed class SecondFactorPage
{
    private SecondFactorPage()
    {
    }

    public sealed class CodeForm
    {
        public string? Method { get; set; }

        public string? Code { get; set; }

        public string? ReturnUrl { get; set; }
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet(ProtocolPaths.SecondFactor, ShowAsync).WithName("SecondFactorPage").WithSummary("Asks for a second factor.");
        app.MapPost(ProtocolPaths.SecondFactor, VerifyAsync).WithName("SecondFactor").WithSummary("Checks a one-time or recovery code and finishes the sign-in.");
    }

    /// <summary>
    /// Finishes the sign-in of the request after <paramref name="method"/> (RFC 8176: otp, hwk, swk) was verified for
    /// its user: a pending sign-in becomes a session with both factors and the browser gets its device cookie; a
    /// current session is stepped up in place. Null when the request has neither (the caller sends it to sign in).
    /// </summary>
    public static async Task<IResult?> FinishAsync(HttpContext context, Guid userId, string method, string returnUrl) =>
        await CompleteAsync(context, userId, method) ? Results.LocalRedirect(ReturnUrls.Safe(returnUrl)) : null;

    /// <summary>
    /// The one completion of a second factor, for every method (the code forms here, the passkey ceremony): false
    /// when the request has neither a pending sign-in nor a current session of <paramref name="userId"/>.
    /// </summary>
    public static async Task<bool> CompleteAsync(HttpContext context, Guid userId, string method)
    {
        var services = context.RequestServices;
        var session = services.GetRequiredService<BrowserSession>();
        if (await services.GetRequiredService<PendingSignIn>().ReadAsync(context, CancellationToken.None) is var (state, user))
        {
            if (user.Id != userId)
            {
                return false;
            }

            // Note: the sign-in is whole now (its password step raised login.second_factor_required); the event is
            // committed with the session record it describes, in the session's own save (transactional outbox).
            services.GetRequiredService<SecurityEvents>().Add(SecurityEventTypes.LoginSucceeded, RequestOrigin.From(context), user.Id, new { second_factor = method });
            await session.StartAsync(context, user, AuthenticationMethods.WithSecondFactor(state.Methods, method), services.GetRequiredService<TimeProvider>().GetUtcNow());
            PendingSignIn.Clear(context);
            // Note: the device cookie marks a browser that completed a sign-in; a password alone is not that.
            services.GetRequiredService<DeviceCookies>().Write(context, state.Device);
            return true;
        }

        if (await session.CurrentUserAsync(context.User, CancellationToken.None) is { } current && current.Id == userId)
        {
            await session.AddSecondFactorAsync(context, context.User, current, method);
            return true;
        }

        return false;
    }

    private static async Task<IResult> ShowAsync(HttpContext context, IAntiforgery antiforgery, Page page, [FromQuery] string? returnUrl)
    {
        var safe = ReturnUrls.Safe(returnUrl);
        if (await page.WhoAsync(context) is not { } who)
        {
            return SignIn(safe);
        }

        return await page.RenderAsync(context, antiforgery, who.User, safe, error: null, failedMethod: null, StatusCodes.Status200OK);
    }

    private static async Task<IResult> VerifyAsync(
        HttpContext context, IAntiforgery antiforgery, Page page, UserAccounts accounts, RateLimits limits, DeviceCookies devices,
        TotpAuthenticators totp, RecoveryCodes recovery, SecurityEvents events, Data.OAuthDbContext db, [FromForm] CodeForm? form)
    {
        // Note: a post with none of the form's fields binds no form at all; it must be a page, not a 500.
        form ??= new();
        await antiforgery.ValidateRequestAsync(context);
        var returnUrl = ReturnUrls.Safe(form.ReturnUrl);
        if (await page.WhoAsync(context) is not { } who)
        {
            return SignIn(returnUrl);
        }

        var user = who.User;
        var text = page.Text;
        var method = form.Method == "recovery" ? "recovery_code" : "totp";
        if (string.IsNullOrWhiteSpace(form.Code))
        {
            return await page.RenderAsync(context, antiforgery, user, returnUrl, text["Missing"], method, StatusCodes.Status400BadRequest);
        }

        if (!totp.Available)
        {
            return await page.RenderAsync(context, antiforgery, user, returnUrl, text["NotOffered"], method, StatusCodes.Status400BadRequest);
        }

        // Note: the sign-in's budgets (threat model 1.2): the same per-account key as the password form (the trusted
        // device's, else the address), and in the middleware the same per-address budget. A code is a guess like a password.
        var trusted = who.Pending?.TrustedDevice ?? await accounts.TrustedDeviceForAsync(user.Id, devices.Read(context), context.RequestAborted);
        var budgetKey = DeviceCookies.LoginBudgetKey(trusted, user.Email);
        var decision = await limits.AcquireAsync(RateLimits.LoginPerAccount, budgetKey, context.RequestAborted);
        if (!decision.Allowed)
        {
            await RateLimitRejection.WriteAsync(context, decision);
            return Results.Empty;
        }

        var origin = RequestOrigin.From(context);
        int? codesLeft = null;
        var check = await accounts.CheckSecondFactorAsync(user, trusted, method, async cancellationToken =>
        {
            if (method == "totp")
            {
                return await totp.UseAsync(user.Id, form.Code, cancellationToken);
            }

            codesLeft = await recovery.SpendAsync(user.Id, form.Code, cancellationToken);
            return codesLeft is not null;
        }, origin, context.RequestAborted);
        switch (check)
        {
            case FactorCheck.Wrong:
                return await page.RenderAsync(context, antiforgery, user, returnUrl, text[method == "totp" ? "WrongCode" : "WrongRecoveryCode"], method, StatusCodes.Status401Unauthorized);
            case FactorCheck.Locked:
                return await page.RenderAsync(context, antiforgery, user, returnUrl, text["Locked"], method, StatusCodes.Status401Unauthorized);
        }

        if (codesLeft is { } left)
        {
            events.Add(SecurityEventTypes.RecoveryCodeUsed, origin, user.Id, new { codes_left = left });
            await db.SaveChangesAsync(CancellationToken.None);
        }

        return await FinishAsync(context, user.Id, AuthenticationMethods.OneTimePassword, returnUrl) ?? SignIn(returnUrl);
    }

    private static IResult SignIn(string returnUrl) =>
        Results.Redirect(QueryHelpers.AddQueryString(ProtocolPaths.Login, "returnUrl", returnUrl));

    /// <summary>Whose second factor the request is for: a pending sign-in's user, else the current session's.</summary>
    internal sealed record Who(User User, PendingSignInState? Pending);

    /// <summary>What the page reads and renders for one request.</summary>
    internal sealed class Page(
        IStringLocalizer<SecondFactorPage> text, PendingSignIn pending, BrowserSession session, SecondFactors factors, TotpAuthenticators totp,
        ClientHeader clients, IEnumerable<ISecondFactorMethodSection> methods)
    {
        public IStringLocalizer<SecondFactorPage> Text => text;

        public async Task<Who?> WhoAsync(HttpContext context)
        {
            if (await pending.ReadAsync(context, context.RequestAborted) is var (state, user))
            {
                return new(user, state);
            }

            return await session.CurrentUserAsync(context.User, context.RequestAborted) is { } current ? new(current, null) : null;
        }

        public async Task<IResult> RenderAsync(
            HttpContext context, IAntiforgery antiforgery, User user, string returnUrl, string? error, string? failedMethod, int statusCode)
        {
            var client = await clients.FromReturnUrlAsync(returnUrl, context.RequestAborted);
            if (client is not null)
            {
                // Note: a verified code ends, through the authorization endpoint, at one of these.
                HtmlPage.AllowFormRedirectsTo(context, client.RedirectUris);
            }

            var enrolled = await factors.EnrolledAsync(user.Id, context.RequestAborted);
            var token = HtmlPage.AntiforgeryField(antiforgery, context);
            var action = E(Localisation.WithLanguage(context, ProtocolPaths.SecondFactor));
            var hidden = $"{token}<input type=\"hidden\" name=\"returnUrl\" value=\"{E(returnUrl)}\">";
            var body = new StringBuilder();
            // Note: the error takes the focus (no script: autofocus on a focusable alert), as on the sign-in form.
            if (error is not null)
            {
                body.Append(CultureInfo.InvariantCulture, $"<p class=\"error\" id=\"factor-error\" role=\"alert\" tabindex=\"-1\" autofocus>{E(error)}</p>");
            }

            var offerTotp = enrolled.Totp && totp.Available;
            var offerRecovery = enrolled.RecoveryCodesLeft > 0 && totp.Available;
            var sections = new List<string>();
            foreach (var method in methods)
            {
                if (await method.RenderAsync(context, user, enrolled, returnUrl, context.RequestAborted) is { Length: > 0 } html)
                {
                    sections.Add(html);
                }
            }

            if (!offerTotp && !offerRecovery && sections.Count == 0)
            {
                // Note: a policy or a client wants a second factor this person hasn't got: they enrol one on their account
                // page, and confirming it there steps this session up (back here through the kept returnUrl).
                var account = QueryHelpers.AddQueryString(ProtocolPaths.Account, "returnUrl", returnUrl);
                body.Append(CultureInfo.InvariantCulture, $"<p>{E(text["NoFactor"])}</p><p><a href=\"{E(Localisation.WithLanguage(context, account))}\">{E(text["Enrol"])}</a></p>");
                return HtmlPage.Render(text["Title"], body.ToString(), statusCode);
            }

            body.Append(CultureInfo.InvariantCulture, $"<p>{E(text["Intro"])}</p>");
            if (offerTotp)
            {
                var described = error is not null && failedMethod == "totp" ? " aria-describedby=\"factor-error\"" : string.Empty;
                var focus = error is null ? " autofocus" : string.Empty;
                body.Append(CultureInfo.InvariantCulture, $"""
                    <section aria-labelledby="totp-heading">
                    <h2 id="totp-heading">{E(text["TotpHeading"])}</h2>
                    <form method="post" action="{action}">
                      {hidden}
                      <input type="hidden" name="method" value="totp">
                      <label for="totp-code">{E(text["TotpCode"])}</label>
                      <input id="totp-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8" required{described}{focus}>
                      <button type="submit">{E(text["Verify"])}</button>
                    </form>
                    </section>
                    """);
            }

            foreach (var html in sections)
            {
                body.Append(html);
            }

            if (offerRecovery)
            {
                var described = error is not null && failedMethod == "recovery_code" ? " aria-describedby=\"factor-error\"" : string.Empty;
                body.Append(CultureInfo.InvariantCulture, $"""
                    <section aria-labelledby="recovery-heading">
                    <h2 id="recovery-heading">{E(text["RecoveryHeading"])}</h2>
                    <form method="post" action="{action}">
                      {hidden}
                      <input type="hidden" name="method" value="recovery">
                      <label for="recovery-code">{E(text["RecoveryCode"])}</label>
                      <input id="recovery-code" name="code" type="text" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="20" required aria-describedby="recovery-hint{(described.Length > 0 ? " factor-error" : string.Empty)}">
                      <p id="recovery-hint" class="hint">{E(text["RecoveryHint"])}</p>
                      <button type="submit">{E(text["UseRecoveryCode"])}</button>
                    </form>
                    </section>
                    """);
            }

            var again = QueryHelpers.AddQueryString(ProtocolPaths.Login, "returnUrl", returnUrl);
            body.Append(CultureInfo.InvariantCulture, $"<p class=\"hint\"><a href=\"{E(Localisation.WithLanguage(context, again))}\">{E(text["SignInAgain"])}</a></p>");
            return HtmlPage.Render(text["Title"], body.ToString(), statusCode);
        }

        private static string E(string? value) => HtmlPage.Encode(value);
    }
}

/// <summary>
/// Another way to pass the second step (a passkey), offered on the second-factor page when registered in the
/// container. The section renders its own form or button for <paramref name="user"/> and, once it has verified its
/// method, calls <see cref="SecondFactorPage.FinishAsync"/>. Returns empty when it has nothing to offer this person.
/// </summary>
internal interface ISecondFactorMethodSection
{
    Task<string> RenderAsync(HttpContext context, User user, EnrolledFactors factors, string returnUrl, CancellationToken cancellationToken);
}
