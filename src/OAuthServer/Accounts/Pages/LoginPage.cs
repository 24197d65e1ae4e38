using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Localization;
using OAuthServer.Accounts.Factors;
using OAuthServer.Events;
using OAuthServer.Accounts.Recovery;
using OAuthServer.Html;
using OAuthServer.Protocol;
using OAuthServer.Security;

namespace OAuthServer.Accounts;

/// <summary>The sign-in page: names the application the person signs in to, from its registration only.</summary>
internal sealed class LoginPage
{
    // Note: classes with settable properties, not positional records: a browser may leave a field out, and a
    // missing field must bind as null rather than fail the whole form with 400.
    public sealed class LoginForm
    {
        public string? Email { get; set; }

        public string? Password { get; set; }

        public string? ReturnUrl { get; set; }
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet(ProtocolPaths.Login, ShowAsync).WithName("LoginPage").WithSummary("The sign-in form.");
        app.MapPost(ProtocolPaths.Login, LoginAsync).WithName("Login").WithSummary("Checks the credentials and starts a session.");
    }

    private static Task<IResult> ShowAsync(
        HttpContext context, IAntiforgery antiforgery, ClientHeader clients, IStringLocalizer<LoginPage> text, [FromQuery] string? returnUrl) =>
        RenderAsync(context, antiforgery, clients, text, ReturnUrls.Safe(returnUrl), email: null, error: null, StatusCodes.Status200OK);

    private static async Task<IResult> LoginAsync(
        HttpContext context, IAntiforgery antiforgery, UserAccounts accounts, BrowserSession session, RateLimits limits, DeviceCookies devices,
        SecondFactors factors, PendingSignIn pending, ClientHeader clients, IStringLocalizer<LoginPage> text, [FromForm] LoginForm? form)
    {
        // Note: a post with none of the form's fields binds no form at all; it must be a page, not a 500.
        form ??= new();
        var returnUrl = ReturnUrls.Safe(form.ReturnUrl);
        if (string.IsNullOrWhiteSpace(form.Email) || string.IsNullOrEmpty(form.Password))
        {
            return await RenderAsync(context, antiforgery, clients, text, returnUrl, form.Email, text["Missing"], StatusCodes.Status400BadRequest);
        }

        // Note: the per-account budget is spent before any hashing, so guessing one account's password from many
        // IPs neither gets far nor burns our CPU (threat model 1.2). A browser whose device cookie this account
        // trusts spends a budget of its own instead: a stranger spending the account's must not lock the owner out.
        var presented = devices.Read(context);
        var device = await accounts.TrustedDeviceAsync(form.Email, presented, context.RequestAborted);
        var budgetKey = DeviceCookies.LoginBudgetKey(device, form.Email);
        var decision = await limits.AcquireAsync(RateLimits.LoginPerAccount, budgetKey, context.RequestAborted);
        if (!decision.Allowed)
        {
            await RateLimitRejection.WriteAsync(context, decision);
            return Results.Empty;
        }

        var outcome = await accounts.SignInAsync(form.Email, form.Password, device, presented, RequestOrigin.From(context), context.RequestAborted);
        if (!outcome.Succeeded)
        {
            // Note: one message for every failure: unknown email, wrong password, disabled or locked (threat model 4.2).
            return await RenderAsync(context, antiforgery, clients, text, returnUrl, form.Email, text["Failed"], StatusCodes.Status401Unauthorized);
        }

        // Note: a person with a second factor gets no session for a password alone: a sealed, five-minute pending
        // sign-in, finished on the second-factor page. The device cookie waits until the sign-in is complete.
        var user = outcome.User!;
        var secondFactor = QueryHelpers.AddQueryString(ProtocolPaths.SecondFactor, "returnUrl", returnUrl);
        if (outcome.SecondFactorFollows)
        {
            pending.Write(context, user, [AuthenticationMethods.Password], outcome.Device!.Value, device);
            return Results.LocalRedirect(secondFactor);
        }

        await session.StartAsync(context, user, [AuthenticationMethods.Password]);
        devices.Write(context, outcome.Device!.Value);
        // Note: the policy requires a factor this person hasn't got: signed in with the password, they are led to enrol one.
        return Results.LocalRedirect(factors.RequiredFor(user) ? secondFactor : returnUrl);
    }

    private static async Task<IResult> RenderAsync(
        HttpContext context, IAntiforgery antiforgery, ClientHeader clients, IStringLocalizer<LoginPage> text,
        string returnUrl, string? email, string? error, int statusCode)
    {
        var client = await clients.FromReturnUrlAsync(returnUrl, context.RequestAborted);
        if (client is not null)
        {
            // Note: the sign-in POST ends, through the authorization endpoint, at one of these.
            HtmlPage.AllowFormRedirectsTo(context, client.RedirectUris);
        }

        var title = client is null ? text["Title"] : text["TitleFor", client.DisplayName];
        var clientHtml = client is null ? string.Empty : ClientHeader.Html(client, text["About", client.DisplayName]);
        // Note: the error takes the focus (no script: autofocus on a focusable alert), so a screen reader reads it
        // first and the keyboard continues from it into the form.
        var errorHtml = error is null ? string.Empty : $"<p class=\"error\" id=\"login-error\" role=\"alert\" tabindex=\"-1\" autofocus>{HtmlPage.Encode(error)}</p>";
        var described = error is null ? string.Empty : " aria-describedby=\"login-error\"";
        // Offered only where a reset mail can be sent; the page behind it answers the same for every address.
        var forgot = PasswordRecovery.IsAvailable(context.RequestServices)
            ? $"<p class=\"hint\"><a href=\"{HtmlPage.Encode(Localisation.WithLanguage(context, ProtocolPaths.ForgotPassword))}\">{HtmlPage.Encode(text["ForgotPassword"])}</a></p>"
            : string.Empty;
        return HtmlPage.Render(title, $"""
            {clientHtml}
            {errorHtml}
            <form method="post" action="{HtmlPage.Encode(Localisation.WithLanguage(context, ProtocolPaths.Login))}">
              {HtmlPage.AntiforgeryField(antiforgery, context)}
              <input type="hidden" name="returnUrl" value="{HtmlPage.Encode(returnUrl)}">
              <label for="email">{HtmlPage.Encode(text["Email"])}</label>
              <input id="email" name="email" type="email" autocomplete="username" required value="{HtmlPage.Encode(email)}"{described}{(error is null ? " autofocus" : string.Empty)}>
              <label for="password">{HtmlPage.Encode(text["Password"])}</label>
              <input id="password" name="password" type="password" autocomplete="current-password" required{described}>
              <button type="submit">{HtmlPage.Encode(text["Submit"])}</button>
            </form>
            {PasskeySection.SignIn(context, returnUrl)}
            {forgot}
            """, statusCode);
    }
}
