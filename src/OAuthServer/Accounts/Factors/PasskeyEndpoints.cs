using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Localization;
using Microsoft.Extensions.Options;
using OAuthServer.Events;
using OAuthServer.Protocol;
using OAuthServer.Security;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Accounts.Factors;

/// <summary>
/// The passkey endpoints: JSON for the script (<see cref="PasskeyScript"/>) that drives <c>navigator.credentials</c>,
/// forms for the rest. Every post is antiforgery-checked (the script sends the token in a header) and on a budget of
/// <see cref="ProtocolPaths.All"/>: the account page's for registration, the sign-in form's for assertions.
/// </summary>
internal static class PasskeyEndpoints
{
    // Note: classes with settable properties, not records: a field the browser leaves out binds as null.
    public sealed class CeremonyRequest
    {
        public string? State { get; set; }

        public JsonElement? Credential { get; set; }

        public string? Name { get; set; }

        public string? ReturnUrl { get; set; }
    }

    public sealed class RemoveForm
    {
        public string? PasskeyId { get; set; }
    }

    public sealed class ConfirmForm
    {
        public string? Password { get; set; }
    }

    /// <summary>Where the account page's passkey section is; every passkey action of the page comes back to it.</summary>
    public const string SectionUrl = ProtocolPaths.Account + "#passkeys";

    public static void Map(IEndpointRouteBuilder app)
    {
        PasskeyScript.Map(app);
        app.MapPost(ProtocolPaths.AccountPasskeyOptions, RegistrationOptionsAsync).WithName("PasskeyRegistrationOptions")
            .WithSummary("Starts adding a passkey to the signed-in account (WebAuthn creation options).");
        app.MapPost(ProtocolPaths.AccountPasskeyRegister, RegisterAsync).WithName("PasskeyRegister")
            .WithSummary("Verifies the new passkey's attestation and stores it.");
        app.MapPost(ProtocolPaths.AccountPasskeyRemove, RemoveAsync).WithName("PasskeyRemove").WithSummary("Removes one of the account's passkeys.");
        app.MapPost(ProtocolPaths.AccountPasskeyConfirm, ConfirmPasswordAsync).WithName("PasskeyConfirmPassword")
            .WithSummary("Confirms the password of a session too old to add a passkey.");
        app.MapPost(ProtocolPaths.LoginPasskeyOptions, SignInOptionsAsync).WithName("PasskeySignInOptions")
            .WithSummary("Starts a username-less sign-in with a passkey (WebAuthn request options).");
        app.MapPost(ProtocolPaths.LoginPasskey, SignInAsync).WithName("PasskeySignIn").WithSummary("Verifies a passkey assertion and starts a session.");
        app.MapPost(ProtocolPaths.SecondFactorPasskeyOptions, SecondFactorOptionsAsync).WithName("PasskeySecondFactorOptions")
            .WithSummary("Starts a passkey second factor for the pending sign-in or the current session.");
        app.MapPost(ProtocolPaths.SecondFactorPasskey, SecondFactorAsync).WithName("PasskeySecondFactor")
            .WithSummary("Verifies a passkey second factor and completes the sign-in or steps the session up.");
    }

    private static async Task<IResult> RegistrationOptionsAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, PasskeyCeremonies ceremonies, IOptions<PasskeyOptions> options,
        TimeProvider clock, IStringLocalizer<PasskeySection> text)
    {
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user || BrowserSession.SessionId(context.User) is not { } sessionId)
        {
            return Error(text, "signed_out", StatusCodes.Status401Unauthorized);
        }

        if (!IsRecent(context.User, clock, options.Value))
        {
            return Error(text, "reauthenticate", StatusCodes.Status403Forbidden);
        }

        return Challenge(await ceremonies.BeginRegistrationAsync(user, sessionId, context.RequestAborted), context);
    }

    private static async Task<IResult> RegisterAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, PasskeyCeremonies ceremonies, IOptions<PasskeyOptions> options,
        TimeProvider clock, IStringLocalizer<PasskeySection> text, [FromBody] CeremonyRequest? request)
    {
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user || BrowserSession.SessionId(context.User) is not { } sessionId)
        {
            return Error(text, "signed_out", StatusCodes.Status401Unauthorized);
        }

        // Note: checked again at the finish: the recent sign-in must still hold when the key is stored.
        if (!IsRecent(context.User, clock, options.Value))
        {
            return Error(text, "reauthenticate", StatusCodes.Status403Forbidden);
        }

        var outcome = await ceremonies.FinishRegistrationAsync(
            user, sessionId, request?.State, Raw(request?.Credential), request?.Name, RequestOrigin.From(context), context.RequestAborted);
        return outcome.Succeeded ? Done(SectionUrl, context) : Error(text, outcome.Failure!, StatusCodes.Status400BadRequest);
    }

    private static async Task<IResult> RemoveAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, PasskeyCeremonies ceremonies, AccountPage.Sections sections,
        IOptions<PasskeyOptions> options, TimeProvider clock, IStringLocalizer<PasskeySection> text, [FromForm] RemoveForm? form)
    {
        // Note: a post with none of the form's fields binds no form at all; it must be a page, not a 500.
        form ??= new();
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return Results.Redirect(AccountLoginUrl);
        }

        // Note: as for adding one: a stolen, older session cookie must not be enough to strip a sign-in method and
        // second factor from the account; the page offers the password confirmation instead.
        if (!IsRecent(context.User, clock, options.Value))
        {
            return await sections.RenderAsync(context, antiforgery, user, null, text["RemoveConfirmFirst"], StatusCodes.Status403Forbidden);
        }

        // Note: the row is matched with the session's own user, so another account's passkey id removes nothing.
        if (!Guid.TryParse(form.PasskeyId, out var passkeyId)
            || !await ceremonies.RemoveAsync(user.Id, passkeyId, RequestOrigin.From(context), context.RequestAborted))
        {
            return await sections.RenderAsync(context, antiforgery, user, null, text["PasskeyNotFound"], StatusCodes.Status404NotFound);
        }

        return Results.Redirect(SectionUrl);
    }

    private static async Task<IResult> ConfirmPasswordAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, UserAccounts accounts, RateLimits limits, DeviceCookies devices,
        AccountPage.Sections sections, IStringLocalizer<PasskeySection> text, [FromForm] ConfirmForm? form)
    {
        form ??= new();
        await antiforgery.ValidateRequestAsync(context);
        if (await session.CurrentUserAsync(context.User, context.RequestAborted) is not { } user)
        {
            return Results.Redirect(AccountLoginUrl);
        }

        if (string.IsNullOrEmpty(form.Password))
        {
            return await sections.RenderAsync(context, antiforgery, user, null, text["EnterPassword"], StatusCodes.Status400BadRequest);
        }

        // Note: the same per-account budget and lockout as the sign-in form (threat model 1.2): a stolen cookie gets
        // no more password guesses here than at the sign-in page.
        var presented = devices.Read(context);
        var device = await accounts.TrustedDeviceAsync(user.Email, presented, context.RequestAborted);
        var budgetKey = DeviceCookies.LoginBudgetKey(device, user.Email);
        var decision = await limits.AcquireAsync(RateLimits.LoginPerAccount, budgetKey, context.RequestAborted);
        if (!decision.Allowed)
        {
            await RateLimitRejection.WriteAsync(context, decision);
            return Results.Empty;
        }

        var outcome = await accounts.SignInAsync(user.Email, form.Password, device, presented, RequestOrigin.From(context), context.RequestAborted);
        if (!outcome.Succeeded || outcome.User!.Id != user.Id)
        {
            return await sections.RenderAsync(context, antiforgery, user, null, text["WrongPassword"], StatusCodes.Status401Unauthorized);
        }

        // Note: a new session with a new auth_time: what "recent" measures. It keeps the factors this browser proved.
        await session.StartAsync(
            context, outcome.User, [.. AuthenticationMethods.Of(context.User).Append(AuthenticationMethods.Password).Distinct()],
            AuthenticationMethods.SecondFactorTime(context.User));
        devices.Write(context, outcome.Device!.Value);
        return Results.Redirect(SectionUrl);
    }

    private static async Task<IResult> SignInOptionsAsync(HttpContext context, IAntiforgery antiforgery, PasskeyCeremonies ceremonies)
    {
        await antiforgery.ValidateRequestAsync(context);
        // Note: an empty allowCredentials (WebAuthn §5.5): the authenticator offers its discoverable credentials for
        // our RP id, so nobody has to type, or reveal, an email address.
        return Challenge(await ceremonies.BeginAssertionAsync(PasskeyCeremony.SignIn, userId: null, sessionId: null, context.RequestAborted), context);
    }

    private static async Task<IResult> SignInAsync(
        HttpContext context, IAntiforgery antiforgery, PasskeyCeremonies ceremonies, AdmittedUser admitted, BrowserSession session,
        SecurityEvents events, Data.OAuthDbContext db, TimeProvider clock, IStringLocalizer<PasskeySection> text, [FromBody] CeremonyRequest? request)
    {
        await antiforgery.ValidateRequestAsync(context);
        var origin = RequestOrigin.From(context);
        var outcome = await ceremonies.FinishAssertionAsync(
            PasskeyCeremony.SignIn, null, null, request?.State, Raw(request?.Credential), origin, context.RequestAborted);
        if (!outcome.Succeeded)
        {
            return Error(text, outcome.Failure!, StatusCodes.Status401Unauthorized);
        }

        // Note: the account gate, as for a password (threat model 1.3): a disabled or locked account gets the same
        // answer as an unknown passkey, so the page doesn't tell a key holder the account's state.
        var passkey = outcome.Passkey!;
        if (await admitted.AdmitAsync(passkey.UserId.ToString(), context.RequestAborted) is not { } user)
        {
            events.Add(SecurityEventTypes.LoginFailed, origin, passkey.UserId, new { reason = "account_unavailable", method = "passkey" });
            await db.SaveChangesAsync(CancellationToken.None);
            return Error(text, "unknown_credential", StatusCodes.Status401Unauthorized);
        }

        events.Add(SecurityEventTypes.LoginSucceeded, origin, user.Id, new { method = "passkey" });
        await db.SaveChangesAsync(CancellationToken.None);
        var method = MethodOf(passkey);
        // Note: a user-verified passkey is two factors by itself (AuthenticationMethods.WithSecondFactor).
        await session.StartAsync(context, user, AuthenticationMethods.WithSecondFactor([], method), clock.GetUtcNow());
        return Done(ReturnUrls.Safe(request?.ReturnUrl), context);
    }

    private static async Task<IResult> SecondFactorOptionsAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, PasskeyCeremonies ceremonies, IStringLocalizer<PasskeySection> text)
    {
        await antiforgery.ValidateRequestAsync(context);
        var (user, sessionId) = await SecondFactorSubjectAsync(context, session);
        if (user is null)
        {
            return Error(text, "signed_out", StatusCodes.Status401Unauthorized);
        }

        return Challenge(await ceremonies.BeginAssertionAsync(PasskeyCeremony.SecondFactor, user.Id, sessionId, context.RequestAborted), context);
    }

    private static async Task<IResult> SecondFactorAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession session, PasskeyCeremonies ceremonies, IStringLocalizer<PasskeySection> text,
        [FromBody] CeremonyRequest? request)
    {
        await antiforgery.ValidateRequestAsync(context);
        var (user, sessionId) = await SecondFactorSubjectAsync(context, session);
        if (user is null)
        {
            return Error(text, "signed_out", StatusCodes.Status401Unauthorized);
        }

        var outcome = await ceremonies.FinishAssertionAsync(
            PasskeyCeremony.SecondFactor, user.Id, sessionId, request?.State, Raw(request?.Credential), RequestOrigin.From(context), context.RequestAborted);
        if (!outcome.Succeeded)
        {
            return Error(text, outcome.Failure!, StatusCodes.Status401Unauthorized);
        }

        // Note: the same completion as a code at the second-factor page: a pending sign-in becomes a session with
        // both factors (and the device cookie), a current session is stepped up in place.
        if (!await SecondFactorPage.CompleteAsync(context, user.Id, MethodOf(outcome.Passkey!)))
        {
            return Error(text, "signed_out", StatusCodes.Status401Unauthorized);
        }

        return Done(ReturnUrls.Safe(request?.ReturnUrl), context);
    }

    // Whose second factor this is: the pending sign-in first (the password was just given, there is no session yet),
    // then the current session (a step-up). The session id is null in the pending mode.
    private static async Task<(User? User, Guid? SessionId)> SecondFactorSubjectAsync(HttpContext context, BrowserSession session)
    {
        if (await context.RequestServices.GetRequiredService<PendingSignIn>().ReadAsync(context, context.RequestAborted) is var (_, waiting))
        {
            return (waiting, null);
        }

        return await session.CurrentUserAsync(context.User, context.RequestAborted) is { } user && BrowserSession.SessionId(context.User) is { } id
            ? (user, id)
            : (null, null);
    }

    /// <summary>RFC 8176 §2: a key that can be synced to other devices is a software key; one that can't, a hardware key.</summary>
    public static string MethodOf(Passkey passkey) =>
        passkey.IsBackupEligible ? AuthenticationMethods.SoftwareKey : AuthenticationMethods.HardwareKey;

    /// <summary>True when the session's last sign-in (OIDC auth_time) is within <see cref="PasskeyOptions.RecentSignIn"/>.</summary>
    public static bool IsRecent(ClaimsPrincipal session, TimeProvider clock, PasskeyOptions options) =>
        long.TryParse(session.FindFirstValue(Claims.AuthenticationTime), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
        && clock.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(seconds) <= options.RecentSignIn;

    private static readonly string AccountLoginUrl = Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString(ProtocolPaths.Login, "returnUrl", ProtocolPaths.Account);

    private static string? Raw(JsonElement? credential) =>
        credential is { ValueKind: JsonValueKind.Object } element ? element.GetRawText() : null;

    private static IResult Challenge(PasskeyChallenge challenge, HttpContext context)
    {
        NoStore(context);
        return Results.Json(new { options = challenge.Options, state = challenge.State });
    }

    private static IResult Done(string redirect, HttpContext context)
    {
        NoStore(context);
        return Results.Json(new { redirect });
    }

    // One message per refusal the person can act on; the reasons an attacker could learn from (which check failed)
    // share one wording, and the precise reason goes to the security event only.
    private static IResult Error(IStringLocalizer<PasskeySection> text, string reason, int statusCode)
    {
        var shown = reason switch
        {
            "signed_out" or "reauthenticate" or "expired_challenge" or "replayed_challenge" or "unknown_credential" or "duplicate_credential" => reason,
            _ => "failed",
        };
        return Results.Json(new { error = shown, message = text["Error_" + shown].Value }, statusCode: statusCode);
    }

    private static void NoStore(HttpContext context) => context.Response.Headers.CacheControl = "no-store";
}
