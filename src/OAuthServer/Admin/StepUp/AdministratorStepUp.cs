using System.Globalization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.Extensions.Options;
using OAuthServer.Accounts;
using OAuthServer.Accounts.Factors;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>
/// The admin API's rule for a person's token (threat model 3.1, "admin credential compromise remains high impact"):
/// the token's user exists, is admitted by the account gate, is an administrator now (the row, read on every
/// request), and signed in with a second factor (acr mfa or more) no longer than <see cref="AdminOptions.StepUpMaxAge"/>
/// ago. A machine token (client_credentials: its subject is the client) passes as before.
/// </summary>
internal sealed class AdministratorRequirement : IAuthorizationRequirement;

/// <summary>Why a person's admin token was refused: a step-up would help (RFC 9470), or nothing would (not an administrator).</summary>
internal sealed class AdministratorRefusal(IAuthorizationHandler handler, string message, bool stepUpHelps) : AuthorizationFailureReason(handler, message)
{
    public bool StepUpHelps { get; } = stepUpHelps;
}

internal sealed class AdministratorStepUpHandler(AdmittedUser admitted, IOptions<AdminOptions> options, TimeProvider clock)
    : AuthorizationHandler<AdministratorRequirement>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, AdministratorRequirement requirement)
    {
        var principal = context.User;
        var subject = principal.GetClaim(Claims.Subject);
        if (subject is null || !principal.HasScope(AdminScopes.Admin))
        {
            return;
        }

        // Note: client_credentials: the subject is the client itself (ClientRules keeps client ids from looking
        // like a user's id), so this is automation, unchanged by step-up.
        if (string.Equals(subject, principal.GetClaim(Claims.ClientId), StringComparison.Ordinal))
        {
            context.Succeed(requirement);
            return;
        }

        var user = await admitted.AdmitAsync(subject);
        if (user is not { IsAdministrator: true })
        {
            context.Fail(new AdministratorRefusal(this, "The token's user is not an administrator.", stepUpHelps: false));
            return;
        }

        // Note: acr and auth_time are the signed claims of our own access token (UserIdentities puts them there for
        // every token with oauth.admin); nothing the client sends with the request is read.
        var level = principal.GetClaim(Claims.AuthenticationContextReference);
        var authenticatedAt = long.TryParse(principal.GetClaim(Claims.AuthenticationTime), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : (DateTimeOffset?)null;
        if (level is null || !AuthenticationMethods.Meets(level, AuthenticationMethods.MultiFactorLevel))
        {
            context.Fail(new AdministratorRefusal(this, "The admin API needs a sign-in with a second factor.", stepUpHelps: true));
            return;
        }

        if (authenticatedAt is not { } at || clock.GetUtcNow() - at > options.Value.StepUpMaxAge)
        {
            context.Fail(new AdministratorRefusal(this, "The admin API needs a recent sign-in with a second factor.", stepUpHelps: true));
            return;
        }

        context.Succeed(requirement);
    }
}

/// <summary>
/// Turns a person's refused admin token into its answer: RFC 9470 §3's challenge (401, <c>insufficient_user_authentication</c>
/// with the acr_values and max_age to ask for) when a fresh sign-in with a second factor would do, 403 when it
/// would not; both with a ProblemDetails body, as every admin API error. Every other outcome is the framework's.
/// </summary>
internal sealed class AdministratorRefusalResultHandler(IOptions<AdminOptions> options, IProblemDetailsService problems) : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        var refusal = authorizeResult.AuthorizationFailure?.FailureReasons.OfType<AdministratorRefusal>().FirstOrDefault();
        if (refusal is null)
        {
            await _default.HandleAsync(next, context, policy, authorizeResult);
            return;
        }

        int status;
        if (refusal.StepUpHelps)
        {
            status = StatusCodes.Status401Unauthorized;
            var maxAge = ((long)options.Value.StepUpMaxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            // Note: RFC 9470 §3: the error, and what a new authorization request must ask for (RFC 6750 §3 syntax).
            context.Response.Headers.WWWAuthenticate =
                $"Bearer error=\"insufficient_user_authentication\", error_description=\"{refusal.Message}\", acr_values=\"{AuthenticationMethods.MultiFactorLevel}\", max_age={maxAge}";
        }
        else
        {
            status = StatusCodes.Status403Forbidden;
        }

        context.Response.StatusCode = status;
        await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = status,
                Title = refusal.StepUpHelps ? "A recent sign-in with a second factor is required." : "Forbidden.",
                Detail = refusal.Message,
                Type = refusal.StepUpHelps ? "https://www.rfc-editor.org/rfc/rfc9470#section-3" : null,
            },
        });
    }
}
