using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Localization;
using OAuthServer.Accounts.Factors;
using OAuthServer.Data;
using OAuthServer.Events;
using OAuthServer.Html;
using OAuthServer.Protocol;

namespace OAuthServer.Accounts;

/// <summary>
/// The account page's recovery-code section: how many are left, and a new set (which replaces every old code), shown
/// once. A new set needs a session that proved a second factor: a stolen password-only session must not be able to
/// mint itself a way past the second factor.
/// </summary>
internal sealed class RecoverySection
{
    private RecoverySection()
    {
    }

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost(ProtocolPaths.AccountRecoveryCodes, RegenerateAsync).WithName("AccountRecoveryCodes").WithSummary("Replaces the recovery codes with a new set, shown once.");

    /// <summary>The section on the account page, for a person with a second factor (and a server with a key).</summary>
    public static async Task AppendAsync(HttpContext context, StringBuilder body, string token, User user)
    {
        var services = context.RequestServices;
        if (!services.GetRequiredService<TotpAuthenticators>().Available)
        {
            return;
        }

        var enrolled = await services.GetRequiredService<SecondFactors>().EnrolledAsync(user.Id, context.RequestAborted);
        if (!enrolled.Any)
        {
            return;
        }

        var text = services.GetRequiredService<IStringLocalizer<RecoverySection>>();
        body.Append(CultureInfo.InvariantCulture, $"""
            <section aria-labelledby="recovery-heading">
            <h2 id="recovery-heading">{E(text["Heading"])}</h2>
            <p>{E(text["Left", enrolled.RecoveryCodesLeft, RecoveryCodes.Count])}</p>
            <form method="post" action="{ProtocolPaths.AccountRecoveryCodes}">
              {token}
              <p id="recovery-new-hint" class="hint">{E(text["NewHint"])}</p>
              <button type="submit" aria-describedby="recovery-new-hint">{E(text["NewButton"])}</button>
            </form>
            </section>
            """);
    }

    private static async Task<IResult> RegenerateAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, SecondFactors factors, RecoveryCodes recovery, TotpAuthenticators totp,
        SecurityEvents events, OAuthDbContext db, IStringLocalizer<RecoverySection> text)
    {
        // Note: the form binds no fields, so the antiforgery token is checked here.
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return await TotpSection.SignInAgainAsync(context);
        }

        if (!totp.Available || !(await factors.EnrolledAsync(user.Id, context.RequestAborted)).Any)
        {
            return Results.Redirect(ProtocolPaths.Account);
        }

        if (!AuthenticationMethods.IncludeSecondFactor(AuthenticationMethods.Of(context.User)))
        {
            // Note: step up first; the second-factor page brings the person back to their account page.
            return Results.Redirect(QueryHelpers.AddQueryString(ProtocolPaths.SecondFactor, "returnUrl", ProtocolPaths.Account));
        }

        var codes = await recovery.ReplaceAsync(user.Id, CancellationToken.None);
        events.Add(SecurityEventTypes.FactorEnrolled, RequestOrigin.From(context), user.Id, new { method = "recovery_codes" });
        await db.SaveChangesAsync(CancellationToken.None);
        return CodesPage(text, codes, ProtocolPaths.Account, enrolled: false);
    }

    /// <summary>The page that shows a new set of codes, once (the response is not stored: the shell sends no-store).</summary>
    internal static IResult CodesPage(IStringLocalizer<RecoverySection> text, IReadOnlyList<string> codes, string returnUrl, bool enrolled)
    {
        var list = new StringBuilder();
        foreach (var code in codes)
        {
            list.Append(CultureInfo.InvariantCulture, $"<li><code class=\"recovery-code\">{E(code)}</code></li>");
        }

        var intro = enrolled ? $"<p role=\"status\">{E(text["Enrolled"])}</p>" : string.Empty;
        return HtmlPage.Render(text["CodesTitle"], $"""
            {intro}
            <p>{E(text["CodesIntro"])}</p>
            <ol class="recovery-codes">{list}</ol>
            <p>{E(text["CodesOnce"])}</p>
            <p><a href="{E(returnUrl)}">{E(text["Continue"])}</a></p>
            """);
    }

    private static string E(string? value) => HtmlPage.Encode(value);
}
