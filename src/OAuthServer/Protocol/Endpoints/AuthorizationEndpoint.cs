using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.WebUtilities;
using OAuthServer.Accounts;
using OAuthServer.Accounts.Factors;
using OAuthServer.Admin;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OAuthServer.Protocol.ProtocolResults;

namespace OAuthServer.Protocol;

/// <summary>
/// The authorization endpoint (OAuth 2.1 §4.1.1, OIDC Core §3.1.2): decides who the user is and whether they
/// consented, then signs in the identity that becomes the authorization code.
/// </summary>
/// <remarks>
/// Pipeline, in order, before this passthrough runs:
/// <list type="number">
/// <item>MalformedRequestMiddleware and RateLimitingMiddleware (bad encodings, per-IP and per-client budgets).</item>
/// <item>OpenIddict's ValidateAuthorizationRequest, with ours inside it: <see cref="PkceFormatHandler"/>
/// (S256 challenge of the RFC 7636 shape) and <see cref="LoopbackRedirectUriHandler"/> (RFC 8252 §7.3 loopback
/// ports). A request_uri from PAR was checked by the same two handlers at the PAR endpoint.</item>
/// <item>Here: the browser session through <see cref="BrowserSession.CurrentUserAsync"/>, which asks the
/// account gate (<see cref="AdmittedUser"/>); prompt and max_age; oauth.admin for administrators only; the acr level
/// (<see cref="AuthenticationLevels"/>: acr_values, the client's require_second_factor, the policy); consent.</item>
/// </list>
/// After it: <see cref="AccessTokenAudienceHandler"/> and <see cref="IdentityTokenRowsHandler"/> on the sign-in.
/// </remarks>
internal static class AuthorizationEndpoint
{
    public static IEndpointConventionBuilder MapAuthorizationEndpoint(this IEndpointRouteBuilder app) =>
        app.MapMethods(ProtocolPaths.Authorize, [HttpMethods.Get, HttpMethods.Post], AuthorizeAsync)
            .DisableAntiforgery()
            .WithName("Authorize").WithSummary("OAuth 2.1 authorization endpoint (code + PKCE S256).");

    private static async Task<IResult> AuthorizeAsync(
        HttpContext context, IOpenIddictApplicationManager applications, IOpenIddictAuthorizationManager authorizations,
        BrowserSession browserSession, UserIdentities identities, SecondFactors secondFactors, TimeProvider clock)
    {
        var request = context.GetOpenIddictServerRequest()
            ?? throw new InvalidOperationException("The OpenIddict server request is missing.");

        var session = await context.AuthenticateAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        var user = session.Succeeded ? await browserSession.CurrentUserAsync(session.Principal, context.RequestAborted) : null;

        // Note: a live cookie is not enough: a user disabled or locked by an operator since they signed in, or whose
        // password changed (new security stamp), must sign in again, which then fails (threat model 1.3).
        // prompt=login forces a fresh sign-in too, and so does a session older than max_age (OIDC Core §3.1.2.1;
        // max_age=0 is prompt=login). A session without a sign-in time is taken as too old.
        var authenticatedAt = AuthenticationTime(session);
        var now = clock.GetUtcNow();
        if (request.MaxAge < 0)
        {
            // OIDC Core §3.1.2.1: max_age is a number of seconds, so at least 0.
            return Forbid(Errors.InvalidRequest, "max_age must be a non-negative number of seconds.");
        }

        if (user is null
            || (request.HasPromptValue(PromptValues.Login) && !JustSignedInForPushedRequest(context, authenticatedAt, now))
            || (request.MaxAge is { } maxAge
                && (authenticatedAt is not { } at || (now - at).TotalSeconds > maxAge)
                && !JustSignedInForPushedRequest(context, authenticatedAt, now)))
        {
            if (request.HasPromptValue(PromptValues.None))
            {
                return Forbid(Errors.LoginRequired, "The user is not signed in.");
            }

            if (session.Succeeded)
            {
                await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            }

            // Note: the user comes back to the same request without prompt and max_age, which the sign-in has
            // just honoured (or max_age=0 would loop forever).
            return Results.Challenge(
                new AuthenticationProperties { RedirectUri = AuthorizeUrlWithout(context, Parameters.Prompt, Parameters.MaxAge) },
                [CookieAuthenticationDefaults.AuthenticationScheme]);
        }

        var application = await applications.FindByClientIdAsync(request.ClientId!, context.RequestAborted)
            ?? throw new InvalidOperationException("The client was validated by OpenIddict but can't be found.");
        var applicationId = await applications.GetIdAsync(application, context.RequestAborted);
        var subject = user.Id.ToString();
        var requestedScopes = request.GetScopes();

        // Note: threat model 3.1: power over this server goes only to a person the database names an administrator
        // now, whatever the client was registered with; the admin API checks the row again on every request.
        if (requestedScopes.Contains(AdminScopes.Admin) && !user.IsAdministrator)
        {
            return Forbid(Errors.AccessDenied, "Only an administrator may be granted oauth.admin.");
        }

        var settings = await applications.GetSettingsAsync(application, context.RequestAborted);
        var clientRequiresSecondFactor = AuthenticationLevels.ClientRequiresSecondFactor(settings);
        var methods = AuthenticationMethods.Of(session.Principal);
        var needed = AuthenticationLevels.Needed(request, clientRequiresSecondFactor || secondFactors.RequiredFor(user));
        if (needed is not null && !AuthenticationMethods.Meets(AuthenticationMethods.LevelOf(methods), needed)
            && !JustSteppedUp(session.Principal, methods, now))
        {
            // OIDC Core §3.1.2.6: the level needs the user, who may not be asked.
            if (request.HasPromptValue(PromptValues.None))
            {
                return Forbid(Errors.InteractionRequired, "A second factor is required.");
            }

            // Note: the second-factor page steps this session up in place (or says how to enrol) and comes back to
            // the same request; with PAR that is the request_uri, which still names the pushed acr_values.
            return Results.Redirect(QueryHelpers.AddQueryString(ProtocolPaths.SecondFactor, "returnUrl", AuthorizeUrlWithout(context)));
        }

        if (context.Request.Query.ContainsKey(AccountPages.ConsentDeniedParameter))
        {
            return Forbid(Errors.AccessDenied, "The user denied the request.");
        }

        if (await applications.HasConsentTypeAsync(application, ConsentTypes.Explicit, context.RequestAborted))
        {
            // Note: an explicit-consent client needs a standing permanent authorization covering these scopes,
            // which only the consent page (antiforgery-protected) creates.
            var consented = await authorizations.FindAsync(
                subject, applicationId!, Statuses.Valid, AuthorizationTypes.Permanent, requestedScopes, context.RequestAborted)
                .AnyAsync(context.RequestAborted);
            if (!consented)
            {
                if (request.HasPromptValue(PromptValues.None))
                {
                    return Forbid(Errors.ConsentRequired, "The user has not consented to this client.");
                }

                return Results.Redirect(QueryHelpers.AddQueryString(ProtocolPaths.Consent, new Dictionary<string, string?>
                {
                    ["returnUrl"] = AuthorizeUrlWithout(context, Parameters.Prompt),
                    [Parameters.ClientId] = request.ClientId,
                    [Parameters.Scope] = string.Join(' ', requestedScopes),
                }));
            }
        }

        // Note: RFC 9470 §3: the access token says how the user signed in when a resource server is meant to judge
        // it: the client asked for a level, must have a second factor, or the token is for the admin API.
        var inAccessToken = request.GetAcrValues().Length > 0 || clientRequiresSecondFactor || requestedScopes.Contains(AdminScopes.Admin);
        var identity = await identities.BuildAsync(
            user, requestedScopes, new SignInFacts(authenticatedAt?.ToUnixTimeSeconds(), methods, inAccessToken), context.RequestAborted);

        // Note: each sign-in gets its own authorization, which is the token family: a replayed refresh token
        // revokes this one sign-in's tokens, not every session the user has with the client.
        var authorization = await authorizations.CreateAsync(
            new ClaimsPrincipal(identity), subject, applicationId!, AuthorizationTypes.AdHoc, identity.GetScopes(), context.RequestAborted);
        identity.SetAuthorizationId(await authorizations.GetIdAsync(authorization, context.RequestAborted));

        return Results.SignIn(new ClaimsPrincipal(identity), null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    // With PAR the prompt and max_age live in the pushed request, so they can't be removed from the URL the user
    // returns to after signing in; a sign-in within the last two minutes has just honoured them.
    private static bool JustSignedInForPushedRequest(HttpContext context, DateTimeOffset? authenticatedAt, DateTimeOffset now) =>
        context.Request.Query.ContainsKey(Parameters.RequestUri)
        && authenticatedAt is { } at
        && at > now.AddMinutes(-2);

    // A session that verified a second factor moments ago and still falls short was asked for more (phr) than the
    // second-factor page could give: acr_values is voluntary, so it goes on with the level it has (the ID token's acr
    // says which) instead of sending the user round again. A mandatory requirement (mfa) is always met by then.
    private static bool JustSteppedUp(System.Security.Claims.ClaimsPrincipal? session, IReadOnlyCollection<string> methods, DateTimeOffset now) =>
        AuthenticationMethods.IncludeSecondFactor(methods)
        && AuthenticationMethods.SecondFactorTime(session) is { } at
        && at > now.AddMinutes(-2);

    // The session's sign-in time (the auth_time claim the login page put into the cookie).
    private static DateTimeOffset? AuthenticationTime(AuthenticateResult session) =>
        session.Succeeded && long.TryParse(session.Principal.FindFirstValue(Claims.AuthenticationTime), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    // The URL the user comes back to after signing in: the same authorize request, minus a prompt that was
    // already honoured (or prompt=login would loop forever).
    private static string AuthorizeUrlWithout(HttpContext context, params string[] parameters)
    {
        var source = context.Request.HasFormContentType
            ? context.Request.Form.Select(pair => KeyValuePair.Create(pair.Key, pair.Value))
            : context.Request.Query.Select(pair => KeyValuePair.Create(pair.Key, pair.Value));
        var query = QueryString.Create(source.Where(pair => !parameters.Contains(pair.Key) && pair.Key != AccountPages.ConsentDeniedParameter));
        return context.Request.PathBase + context.Request.Path + query;
    }
}
