using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Localization;
using Microsoft.Extensions.Options;
using OAuthServer.Accounts.Factors;
using OAuthServer.Data;
using OAuthServer.Html;
using OAuthServer.Protocol;

namespace OAuthServer.Accounts;

/// <summary>
/// The passkey controls of the pages: the account page's section (list, add, remove), the sign-in page's "Sign in
/// with a passkey" button and the second-factor page's "Use a passkey". Every control is rendered hidden and shown by
/// <see cref="PasskeyScript"/> when the browser supports passkeys, so a page without script works as before.
/// </summary>
internal sealed class PasskeySection
{
    private PasskeySection()
    {
    }

    /// <summary>The account page's passkey section for <paramref name="user"/>.</summary>
    public static async Task AppendAsync(StringBuilder body, HttpContext context, string token, User user)
    {
        var services = context.RequestServices;
        var text = services.GetRequiredService<IStringLocalizer<PasskeySection>>();
        var options = services.GetRequiredService<IOptions<PasskeyOptions>>().Value;
        var clock = services.GetRequiredService<TimeProvider>();
        var passkeys = await services.GetRequiredService<OAuthDbContext>().Set<Passkey>().AsNoTracking()
            .Where(row => row.UserId == user.Id).OrderBy(row => row.CreatedAt)
            .Select(row => new { row.Id, row.Name, row.CreatedAt, row.LastUsedAt, row.IsBackupEligible })
            .ToListAsync(context.RequestAborted);

        body.Append(CultureInfo.InvariantCulture, $"""
            <section aria-labelledby="passkeys-heading" id="passkeys">
            <h2 id="passkeys-heading">{E(text["Heading"])}</h2>
            <p class="hint">{E(text["Intro"])}</p>
            """);
        if (passkeys.Count == 0)
        {
            body.Append(CultureInfo.InvariantCulture, $"<p class=\"no-passkeys\">{E(text["None"])}</p>");
        }
        else
        {
            body.Append("<ul class=\"passkeys\">");
            foreach (var passkey in passkeys)
            {
                var kind = passkey.IsBackupEligible ? text["Synced"] : text["DeviceBound"];
                var used = passkey.LastUsedAt is { } at ? text["LastUsed", TimeText(at)] : text["NeverUsed"];
                body.Append(CultureInfo.InvariantCulture, $"""
                    <li class="passkey" data-kind="{(passkey.IsBackupEligible ? "synced" : "device-bound")}"><strong>{E(passkey.Name)}</strong>
                      <p>{E(kind)} · {E(text["Created", TimeText(passkey.CreatedAt)])} · {E(used)}</p>
                      <form method="post" action="{ProtocolPaths.AccountPasskeyRemove}">
                        {token}
                        <input type="hidden" name="passkeyId" value="{passkey.Id:N}">
                        <button type="submit" class="secondary" aria-label="{E(text["RemoveFor", passkey.Name])}">{E(text["Remove"])}</button>
                      </form>
                    </li>
                    """);
            }

            body.Append("</ul>");
        }

        if (PasskeyEndpoints.IsRecent(context.User, clock, options))
        {
            body.Append(CultureInfo.InvariantCulture, $"""
                <form class="passkey-add" data-passkey="register" data-options="{ProtocolPaths.AccountPasskeyOptions}" data-finish="{ProtocolPaths.AccountPasskeyRegister}" data-failed-message="{E(text["Error_failed"])}" hidden>
                  {token}
                  <p class="error" role="alert" tabindex="-1" data-passkey-error hidden></p>
                  <label for="passkey-name">{E(text["Name"])}</label>
                  <input id="passkey-name" name="name" type="text" maxlength="{Passkey.NameLength}" autocomplete="off" aria-describedby="passkey-name-hint">
                  <p id="passkey-name-hint" class="hint">{E(text["NameHint"])}</p>
                  <button type="submit">{E(text["Add"])}</button>
                </form>
                <p class="hint" data-passkey-fallback>{E(text["NeedsScript"])}</p>
                {PasskeyScript.Tag(context)}
                """);
        }
        else
        {
            // Note: an old session confirms the password before it may add a key (a stolen cookie must not plant one).
            body.Append(CultureInfo.InvariantCulture, $"""
                <form method="post" action="{ProtocolPaths.AccountPasskeyConfirm}">
                  {token}
                  <p id="passkey-confirm-hint" class="hint">{E(text["ConfirmHint"])}</p>
                  <label for="passkey-password">{E(text["Password"])}</label>
                  <input id="passkey-password" name="password" type="password" autocomplete="current-password" required aria-describedby="passkey-confirm-hint">
                  <button type="submit">{E(text["Confirm"])}</button>
                </form>
                """);
        }

        body.Append("</section>");
    }

    /// <summary>The sign-in page's "Sign in with a passkey" control (hidden until the script shows it).</summary>
    public static string SignIn(HttpContext context, string returnUrl)
    {
        var text = context.RequestServices.GetRequiredService<IStringLocalizer<PasskeySection>>();
        return Assertion(context, text, ProtocolPaths.LoginPasskeyOptions, ProtocolPaths.LoginPasskey, returnUrl, text["SignIn"]);
    }

    /// <summary>
    /// The second-factor page's "Use a passkey" control, for a person with a passkey (the page has read their factors).
    /// The page must also render its antiforgery field (the script sends that token).
    /// </summary>
    public static string SecondFactor(HttpContext context, string returnUrl)
    {
        var text = context.RequestServices.GetRequiredService<IStringLocalizer<PasskeySection>>();
        return Assertion(context, text, ProtocolPaths.SecondFactorPasskeyOptions, ProtocolPaths.SecondFactorPasskey, returnUrl, text["UseForSecondFactor"]);
    }

    private static string Assertion(HttpContext context, IStringLocalizer<PasskeySection> text, string options, string finish, string returnUrl, string label) => $"""
        <div class="passkey-signin" data-passkey="assert" data-options="{options}" data-finish="{finish}" data-return-url="{E(returnUrl)}" data-failed-message="{E(text["Error_failed"])}" hidden>
          <p class="error" role="alert" tabindex="-1" data-passkey-error hidden></p>
          <button type="button" class="secondary">{E(label)}</button>
        </div>
        {PasskeyScript.Tag(context)}
        """;

    private static string TimeText(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC";

    private static string E(string? value) => HtmlPage.Encode(value);
}

/// <summary>"Use a passkey" on the second-factor page, for a person who registered one.</summary>
internal sealed class PasskeySecondFactorSection : ISecondFactorMethodSection
{
    public Task<string> RenderAsync(HttpContext context, User user, EnrolledFactors factors, string returnUrl, CancellationToken cancellationToken) =>
        Task.FromResult(factors.Passkeys > 0 ? PasskeySection.SecondFactor(context, returnUrl) : string.Empty);
}
