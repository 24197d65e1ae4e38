using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Localization;
using OAuthServer.Accounts;
using OAuthServer.Accounts.Factors;
using OAuthServer.Events;
using OAuthServer.Observability;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol.Device;

/// <summary>
/// The end-user verification page (RFC 8628 §3.3), an OpenIddict passthrough: the user signs in with the login
/// page (same session, same account gate), types the code the device shows (or arrives with it from
/// <c>verification_uri_complete</c>), sees which app asks for which scopes, and approves or denies. Approval signs
/// the user's identity in at OpenIddict, which stores it on the device code and marks the user code redeemed
/// (single use, <see cref="AtomicTokenRedemptionHandler"/>); denial makes the device's next poll
/// <c>access_denied</c>.
/// </summary>
/// <remarks>
/// Note: RFC 8628 §5.4 (remote phishing): a code can be read to a victim by an attacker who started the flow on
/// their own device. So the page always asks, whatever the client's consent type, and names the client; only the
/// antiforgery-protected POST decides, never a GET.
/// </remarks>
internal static class DeviceVerificationEndpoint
{
    private const string OutcomeParameter = "outcome";

    public static IEndpointConventionBuilder MapDeviceVerificationEndpoint(this IEndpointRouteBuilder app) =>
        app.MapMethods(ProtocolPaths.Verification, [HttpMethods.Get, HttpMethods.Post], VerifyAsync)
            .DisableAntiforgery()
            .WithName("DeviceVerification").WithSummary("RFC 8628 end-user verification: enter a device's code and approve it.");

    private static async Task<IResult> VerifyAsync(
        HttpContext context, IAntiforgery antiforgery, BrowserSession browserSession, IOpenIddictApplicationManager applications,
        IOpenIddictAuthorizationManager authorizations, UserIdentities identities, SecurityEvents events, OAuthMetrics metrics,
        ScopeWording wording, IStringLocalizer<DeviceVerificationPage> text, SecondFactors secondFactors)
    {
        var request = context.GetOpenIddictServerRequest()
            ?? throw new InvalidOperationException("The OpenIddict server request is missing.");
        var post = HttpMethods.IsPost(context.Request.Method);
        if (post)
        {
            // Note: the form is read by hand, so antiforgery is checked by hand: another site can't approve a device
            // in the user's name (a failure is a 400 through the exception handler).
            await antiforgery.ValidateRequestAsync(context);
        }

        var session = await context.AuthenticateAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        var user = session.Succeeded ? await browserSession.CurrentUserAsync(session.Principal, context.RequestAborted) : null;
        if (user is null)
        {
            // Note: threat model 1.3: a session of a disabled or locked account is no session. The user comes back
            // here with the code they arrived with, after signing in.
            var back = ProtocolPaths.Verification + (string.IsNullOrEmpty(request.UserCode) ? string.Empty : "?user_code=" + Uri.EscapeDataString(request.UserCode));
            return Results.Challenge(new AuthenticationProperties { RedirectUri = back }, [CookieAuthenticationDefaults.AuthenticationScheme]);
        }

        if (!post && context.Request.Query[OutcomeParameter].ToString() is { Length: > 0 } outcome)
        {
            return DeviceVerificationPage.Outcome(text, approved: outcome == "approved");
        }

        if (string.IsNullOrEmpty(request.UserCode))
        {
            return DeviceVerificationPage.Entry(text, invalidCode: false);
        }

        var code = (await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme)).Principal;
        if (code is null)
        {
            // Note: one answer for a wrong, expired or already used code (each spent a guess of this address).
            return DeviceVerificationPage.Entry(text, invalidCode: true);
        }

        var clientId = code.GetPresenters().FirstOrDefault();
        var application = clientId is null ? null : await applications.FindByClientIdAsync(clientId, context.RequestAborted);
        if (application is null)
        {
            return DeviceVerificationPage.Entry(text, invalidCode: true);
        }

        // Note: a device gets what the authorization endpoint would give the same client and person: when the client
        // is registered require_second_factor or the policy names the person, a password-only session steps up
        // first (the second-factor page comes back here with the code), before the approval is shown or accepted.
        if ((AuthenticationLevels.ClientRequiresSecondFactor(await applications.GetSettingsAsync(application, context.RequestAborted)) || secondFactors.RequiredFor(user))
            && !AuthenticationMethods.Meets(AuthenticationMethods.LevelOf(AuthenticationMethods.Of(session.Principal)), AuthenticationMethods.MultiFactorLevel))
        {
            return Results.Redirect(Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString(
                ProtocolPaths.SecondFactor, "returnUrl", ProtocolPaths.Verification + "?user_code=" + Uri.EscapeDataString(request.UserCode)));
        }

        var scopes = code.GetScopes();
        if (!post)
        {
            var name = await applications.GetDisplayNameAsync(application, context.RequestAborted) ?? clientId;
            return DeviceVerificationPage.Confirm(text, antiforgery, context, name!, request.UserCode, await wording.DescribeAsync(scopes, context.RequestAborted));
        }

        var origin = RequestOrigin.From(context, clientId);
        var scopeList = string.Join(' ', scopes);
        if (context.Request.Form["decision"] != "accept")
        {
            // Note: the event joins OpenIddict's write of the rejected device code (same DbContext, next SaveChanges).
            events.Add(SecurityEventTypes.DeviceDenied, origin, user.Id, new { scopes = scopeList });
            metrics.DeviceVerifications.Add(1, new KeyValuePair<string, object?>("result", "denied"));
            return Results.Forbid(
                new AuthenticationProperties { RedirectUri = ProtocolPaths.Verification + "?" + OutcomeParameter + "=denied" },
                [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
        }

        var authenticatedAt = long.TryParse(session.Principal!.FindFirstValue(Claims.AuthenticationTime), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
            ? seconds
            : (long?)null;
        var identity = await identities.BuildAsync(
            user, scopes, new SignInFacts(authenticatedAt, AuthenticationMethods.Of(session.Principal), InAccessToken: false), context.RequestAborted);
        // Note: as at the authorization endpoint, each approval is its own authorization (token family), so a
        // replayed refresh token of this device ends this device's tokens only.
        var authorization = await authorizations.CreateAsync(
            new ClaimsPrincipal(identity), user.Id.ToString(), (await applications.GetIdAsync(application, context.RequestAborted))!,
            AuthorizationTypes.AdHoc, identity.GetScopes(), context.RequestAborted);
        identity.SetAuthorizationId(await authorizations.GetIdAsync(authorization, context.RequestAborted));

        events.Add(SecurityEventTypes.DeviceApproved, origin, user.Id, new { scopes = scopeList });
        metrics.DeviceVerifications.Add(1, new KeyValuePair<string, object?>("result", "approved"));
        return Results.SignIn(
            new ClaimsPrincipal(identity),
            new AuthenticationProperties { RedirectUri = ProtocolPaths.Verification + "?" + OutcomeParameter + "=approved" },
            OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }
}
