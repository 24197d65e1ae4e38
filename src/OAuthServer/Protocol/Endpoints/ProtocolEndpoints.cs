using System.Collections.Immutable;
using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.Accounts;
using OAuthServer.Html;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

/// <summary>
/// The passthrough handlers of the OpenIddict endpoints. OpenIddict has already validated the request (client,
/// redirect URI, PKCE, grant, code or refresh token) before any of these run; they decide who the user is and
/// what goes into the tokens.
/// </summary>
internal sealed class ProtocolEndpoints(
    IOpenIddictApplicationManager applications,
    IOpenIddictAuthorizationManager authorizations,
    IOpenIddictScopeManager scopes,
    UserAccounts accounts,
    BrowserSession browserSession,
    AccountGate gate)
{
    private const string ConfirmLogoutField = "confirm_logout";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapMethods(ProtocolPaths.Authorize, [HttpMethods.Get, HttpMethods.Post],
            (HttpContext context, ProtocolEndpoints endpoints) => endpoints.AuthorizeAsync(context))
            .DisableAntiforgery()
            .WithName("Authorize").WithSummary("OAuth 2.1 authorization endpoint (code + PKCE S256).");
        app.MapPost(ProtocolPaths.Token, (HttpContext context, ProtocolEndpoints endpoints) => endpoints.ExchangeAsync(context))
            .DisableAntiforgery()
            .WithName("Token").WithSummary("Token endpoint: authorization_code, refresh_token, client_credentials.");
        app.MapMethods(ProtocolPaths.UserInfo, [HttpMethods.Get, HttpMethods.Post],
            (HttpContext context, ProtocolEndpoints endpoints) => endpoints.UserInfoAsync(context))
            .DisableAntiforgery()
            .WithName("UserInfo").WithSummary("OpenID Connect userinfo.");
        app.MapMethods(ProtocolPaths.EndSession, [HttpMethods.Get, HttpMethods.Post], EndSessionAsync)
            .DisableAntiforgery()
            .WithName("EndSession").WithSummary("OpenID Connect RP-initiated logout.");
    }

    public async Task<IResult> AuthorizeAsync(HttpContext context)
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
        var now = context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();
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

        var identity = await BuildUserIdentityAsync(user, requestedScopes, authenticatedAt?.ToUnixTimeSeconds(), context.RequestAborted);

        // Note: each sign-in gets its own authorization, which is the token family: a replayed refresh token
        // revokes this one sign-in's tokens, not every session the user has with the client.
        var authorization = await authorizations.CreateAsync(
            new ClaimsPrincipal(identity), subject, applicationId!, AuthorizationTypes.AdHoc, identity.GetScopes(), context.RequestAborted);
        identity.SetAuthorizationId(await authorizations.GetIdAsync(authorization, context.RequestAborted));

        return Results.SignIn(new ClaimsPrincipal(identity), null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    public async Task<IResult> ExchangeAsync(HttpContext context)
    {
        var request = context.GetOpenIddictServerRequest()
            ?? throw new InvalidOperationException("The OpenIddict server request is missing.");

        if (request.IsAuthorizationCodeGrantType() || request.IsRefreshTokenGrantType())
        {
            var result = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
            // Note: AccountGateHandler has already refused a user who may not sign in now (threat model 1.3).
            var user = await accounts.FindBySubjectAsync(result.Principal?.GetClaim(Claims.Subject), context.RequestAborted)
                ?? throw new InvalidOperationException("The account gate let through a user that does not exist.");

            // OIDC Core §12.2: a refreshed ID token keeps the time of the original sign-in.
            var authenticatedAt = long.TryParse(result.Principal?.GetClaim(Claims.AuthenticationTime), NumberStyles.Integer, CultureInfo.InvariantCulture, out var authTime)
                ? authTime
                : (long?)null;
            var identity = await BuildUserIdentityAsync(user, result.Principal!.GetScopes(), authenticatedAt, context.RequestAborted);
            identity.SetAuthorizationId(result.Principal!.GetAuthorizationId());
            return Results.SignIn(new ClaimsPrincipal(identity), null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        }

        if (request.IsClientCredentialsGrantType())
        {
            // Note: OpenIddict only lets confidential clients with the client_credentials permission get here.
            var application = await applications.FindByClientIdAsync(request.ClientId!, context.RequestAborted)
                ?? throw new InvalidOperationException("The client was validated by OpenIddict but can't be found.");

            var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
            identity.SetClaim(Claims.Subject, await applications.GetClientIdAsync(application, context.RequestAborted));
            identity.SetClaim(Claims.Name, await applications.GetDisplayNameAsync(application, context.RequestAborted));
            identity.SetScopes(request.GetScopes());
            identity.SetResources(await scopes.ListResourcesAsync(identity.GetScopes(), context.RequestAborted).ToListAsync(context.RequestAborted));
            identity.SetDestinations(static claim => [Destinations.AccessToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        }

        // Unreachable: OpenIddict rejects every grant type that was not allowed above.
        return Forbid(Errors.UnsupportedGrantType, "The grant type is not supported.");
    }

    public async Task<IResult> UserInfoAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        var user = await accounts.FindBySubjectAsync(result.Principal?.GetClaim(Claims.Subject), context.RequestAborted);
        if (gate.Check(user) != GateVerdict.Allowed)
        {
            return Results.Challenge(
                new AuthenticationProperties(new Dictionary<string, string?>
                {
                    [OpenIddictServerAspNetCoreConstants.Properties.Error] = Errors.InvalidToken,
                    [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = "The token's user can no longer sign in.",
                }),
                [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
        }

        var claims = new Dictionary<string, object>(StringComparer.Ordinal) { [Claims.Subject] = user!.Id.ToString() };
        var principal = result.Principal!;
        if (principal.HasScope(Scopes.Email))
        {
            claims[Claims.Email] = user.Email;
            claims[Claims.EmailVerified] = false;
        }

        if (principal.HasScope(Scopes.Profile))
        {
            claims[Claims.Name] = user.Email;
        }

        return Results.Json(claims);
    }

    // With PAR the prompt and max_age live in the pushed request, so they can't be removed from the URL the user
    // returns to after signing in; a sign-in within the last two minutes has just honoured them.
    private static bool JustSignedInForPushedRequest(HttpContext context, DateTimeOffset? authenticatedAt, DateTimeOffset now) =>
        context.Request.Query.ContainsKey(Parameters.RequestUri)
        && authenticatedAt is { } at
        && at > now.AddMinutes(-2);

    // The session's sign-in time (the auth_time claim the login page put into the cookie).
    private static DateTimeOffset? AuthenticationTime(AuthenticateResult session) =>
        session.Succeeded && long.TryParse(session.Principal.FindFirstValue(Claims.AuthenticationTime), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    // OIDC RP-Initiated Logout §2 and §4: a logout request may come from any site, so the user confirms with an
    // antiforgery-protected form first, unless it carries an id_token_hint that proves the RP's session with this
    // very user. OpenIddict treats the hint as optional: an invalid one (garbage, another issuer's, a bad
    // signature) is dropped without an error, so only the principal it validated counts, never the parameter.
    private static async Task<IResult> EndSessionAsync(HttpContext context, IAntiforgery antiforgery)
    {
        var request = context.GetOpenIddictServerRequest()
            ?? throw new InvalidOperationException("The OpenIddict server request is missing.");
        var confirmed = HttpMethods.IsPost(context.Request.Method) && context.Request.HasFormContentType
            && context.Request.Form.ContainsKey(ConfirmLogoutField);
        if (!confirmed && !await HintNamesSignedInUserAsync(context))
        {
            var fields = string.Concat(request.GetParameters()
                .Where(parameter => !string.IsNullOrEmpty((string?)parameter.Value))
                .Select(parameter => $"<input type=\"hidden\" name=\"{HtmlPage.Encode(parameter.Key)}\" value=\"{HtmlPage.Encode((string?)parameter.Value)}\">"));
            return HtmlPage.Render("Sign out?", $"""
                <p>Do you want to sign out?</p>
                <form method="post" action="{ProtocolPaths.EndSession}">
                  {HtmlPage.AntiforgeryField(antiforgery, context)}
                  {fields}
                  <button type="submit" name="{ConfirmLogoutField}" value="yes">Sign out</button>
                </form>
                """);
        }

        if (confirmed)
        {
            await antiforgery.ValidateRequestAsync(context);
        }

        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        // Note: OpenIddict only redirects to a post_logout_redirect_uri registered for the client.
        return Results.SignOut(new AuthenticationProperties { RedirectUri = "/" }, [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
    }

    // The hint's subject must be the session's: a valid id_token of another user (or of a user signed in earlier
    // in this browser) does not show that the RP is ending this session. Without a session there is nothing to end.
    private static async Task<bool> HintNamesSignedInUserAsync(HttpContext context)
    {
        var hint = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        if (hint.Principal?.GetClaim(Claims.Subject) is not { Length: > 0 } subject)
        {
            return false;
        }

        var session = await context.AuthenticateAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return !session.Succeeded || string.Equals(session.Principal.FindFirstValue(Claims.Subject), subject, StringComparison.Ordinal);
    }

    private async Task<ClaimsIdentity> BuildUserIdentityAsync(
        User user, ImmutableArray<string> grantedScopes, long? authenticatedAt, CancellationToken cancellationToken)
    {
        var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, user.Id.ToString())
            .SetClaim(Claims.Email, user.Email)
            .SetClaim(Claims.Name, user.Email)
            // OIDC Core §2: auth_time in every ID token, so max_age can be checked by the client too.
            .SetClaim(Claims.AuthenticationTime, authenticatedAt);
        identity.SetScopes(grantedScopes);
        identity.SetResources(await scopes.ListResourcesAsync(grantedScopes, cancellationToken).ToListAsync(cancellationToken));
        identity.SetDestinations(claim => ClaimDestinations(claim, identity));
        return identity;
    }

    // Note: personal data only goes where the granted scopes allow it; sub, client_id and scope are always added by OpenIddict.
    private static IEnumerable<string> ClaimDestinations(Claim claim, ClaimsIdentity identity) => claim.Type switch
    {
        Claims.Email when identity.HasScope(Scopes.Email) => [OpenIddictConstants.Destinations.AccessToken, OpenIddictConstants.Destinations.IdentityToken],
        Claims.Name when identity.HasScope(Scopes.Profile) => [OpenIddictConstants.Destinations.AccessToken, OpenIddictConstants.Destinations.IdentityToken],
        Claims.Subject => [OpenIddictConstants.Destinations.AccessToken, OpenIddictConstants.Destinations.IdentityToken],
        Claims.AuthenticationTime => [OpenIddictConstants.Destinations.IdentityToken],
        _ => [],
    };

    private static IResult Forbid(string error, string description) => Results.Forbid(
        new AuthenticationProperties(new Dictionary<string, string?>
        {
            [OpenIddictServerAspNetCoreConstants.Properties.Error] = error,
            [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = description,
        }),
        [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);

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
