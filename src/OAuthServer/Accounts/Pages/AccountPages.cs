using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using OAuthServer.Html;
using OAuthServer.Protocol;
using OpenIddict.Abstractions;
using OAuthServer.Events;
using OAuthServer.Security;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Accounts;

/// <summary>The login and logout pages; the consent page is <see cref="ConsentPage"/>.</summary>
internal static class AccountPages
{
    // Note: one message for every failure: unknown email, wrong password, disabled or locked (threat model 4.2).
    public const string LoginFailedMessage = "Invalid email or password.";

    /// <summary>Set on the authorize URL by the consent page when the user said no.</summary>
    public const string ConsentDeniedParameter = "consent_denied";

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
        app.MapGet(ProtocolPaths.Login, ShowLogin).WithName("LoginPage").WithSummary("The sign-in form.");
        app.MapPost(ProtocolPaths.Login, LoginAsync).WithName("Login").WithSummary("Checks the credentials and starts a session.");
        app.MapPost(ProtocolPaths.Logout, LogoutAsync).WithName("Logout").WithSummary("Ends the session.");
        ConsentPage.Map(app);
    }

    private static IResult ShowLogin(HttpContext context, IAntiforgery antiforgery, [FromQuery] string? returnUrl) =>
        LoginPage(context, antiforgery, ReturnUrls.Safe(returnUrl), email: null, error: null, StatusCodes.Status200OK);

    private static async Task<IResult> LoginAsync(
        HttpContext context, IAntiforgery antiforgery, UserAccounts accounts, BrowserSession session, RateLimits limits, DeviceCookies devices, [FromForm] LoginForm form)
    {
        var returnUrl = ReturnUrls.Safe(form.ReturnUrl);
        if (string.IsNullOrWhiteSpace(form.Email) || string.IsNullOrEmpty(form.Password))
        {
            return LoginPage(context, antiforgery, returnUrl, form.Email, "Enter your email and password.", StatusCodes.Status400BadRequest);
        }

        // Note: the per-account budget is spent before any hashing, so guessing one account's password from many
        // IPs neither gets far nor burns our CPU (threat model 1.2). A browser whose device cookie this account
        // trusts spends a budget of its own instead: a stranger spending the account's must not lock the owner out.
        var presented = devices.Read(context);
        var device = await accounts.TrustedDeviceAsync(form.Email, presented, context.RequestAborted);
        var budgetKey = device is { } trusted ? "device:" + trusted.ToString("N") : EmailAddress.Normalize(form.Email);
        var decision = await limits.AcquireAsync(RateLimits.LoginPerAccount, budgetKey, context.RequestAborted);
        if (!decision.Allowed)
        {
            await RateLimitRejection.WriteAsync(context, decision);
            return Results.Empty;
        }

        var outcome = await accounts.SignInAsync(form.Email, form.Password, device, presented, RequestOrigin.From(context), context.RequestAborted);
        if (!outcome.Succeeded)
        {
            return LoginPage(context, antiforgery, returnUrl, form.Email, LoginFailedMessage, StatusCodes.Status401Unauthorized);
        }

        await session.StartAsync(context, outcome.User!);
        devices.Write(context, outcome.Device!.Value);
        return Results.LocalRedirect(returnUrl);
    }

    private static async Task<IResult> LogoutAsync(HttpContext context, IAntiforgery antiforgery)
    {
        // Note: the form binds no fields, so the antiforgery token is checked here: another site can't log users out.
        await antiforgery.ValidateRequestAsync(context);
        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return HtmlPage.Render("Signed out", "<p>You are signed out.</p>");
    }

    private static IResult LoginPage(HttpContext context, IAntiforgery antiforgery, string returnUrl, string? email, string? error, int statusCode)
    {
        var errorHtml = error is null ? string.Empty : $"<p class=\"error\" role=\"alert\">{HtmlPage.Encode(error)}</p>";
        return HtmlPage.Render("Sign in", $"""
            {errorHtml}
            <form method="post" action="{ProtocolPaths.Login}">
              {HtmlPage.AntiforgeryField(antiforgery, context)}
              <input type="hidden" name="returnUrl" value="{HtmlPage.Encode(returnUrl)}">
              <label for="email">Email</label>
              <input id="email" name="email" type="email" autocomplete="username" required value="{HtmlPage.Encode(email)}">
              <label for="password">Password</label>
              <input id="password" name="password" type="password" autocomplete="current-password" required>
              <button type="submit">Sign in</button>
            </form>
            """, statusCode);
    }
}
