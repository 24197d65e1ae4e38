using System.Text.Json;
using System.Text.Json.Nodes;
using OAuthServer.Accounts;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Exchange;

/// <summary>
/// Our policy for RFC 8693 token exchange, once OpenIddict has authenticated the client, checked that it holds the
/// token-exchange grant (<c>unauthorized_client</c> otherwise), and validated the subject token: an access token of
/// ours, unexpired, not revoked, whose audience or presenter is the calling client (OpenIddict's
/// <c>ValidateAuthorizedParty</c>: a service may only exchange a token that was meant for it). Then:
/// <list type="bullet">
/// <item>every requested <c>audience</c> and <c>resource</c> is one the client may exchange for (<c>invalid_target</c>);</item>
/// <item>the requested scopes are the subject token's or fewer, and never <c>offline_access</c>: an exchange can only
/// narrow (<c>invalid_scope</c>);</item>
/// <item>an actor token is the caller's own, and a delegation chain is at most <see cref="MaxActors"/> long;</item>
/// <item>the subject token's user passes the account gate (threat model 1.3).</item>
/// </list>
/// What it allows goes to <see cref="TokenExchangeDecision"/>.
/// </summary>
internal sealed class TokenExchangeRequestHandler(
    IOpenIddictApplicationManager applications, IOpenIddictScopeManager scopes, AdmittedUser admitted, TokenExchangeDecision decision)
    : IOpenIddictServerHandler<ValidateTokenRequestContext>
{
    /// <summary>The longest chain of actors an exchanged token may carry, so <c>act</c> stays bounded.</summary>
    public const int MaxActors = 4;

    // Note: after ValidateGrantTypePermissions (a client without the grant gets unauthorized_client first) and before
    // OpenIddict's audience, resource and scope permission checks, which answer invalid_request.
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateTokenRequestContext>()
            .UseScopedHandler<TokenExchangeRequestHandler>()
            .SetOrder(OpenIddictServerHandlers.Exchange.ValidateGrantTypePermissions.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ValidateTokenRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.Request.IsTokenExchangeGrantType())
        {
            return;
        }

        var subject = context.SubjectTokenPrincipal
            ?? throw new InvalidOperationException("OpenIddict validated a token exchange without a subject token.");
        var application = await applications.FindByClientIdAsync(context.ClientId!, context.CancellationToken)
            ?? throw new InvalidOperationException("The client was validated by OpenIddict but can't be found.");
        var allowed = TokenExchangeTargets.Of(await applications.GetPermissionsAsync(application, context.CancellationToken)).ToHashSet(StringComparer.Ordinal);

        List<string> requested = [.. context.Request.GetAudiences(), .. context.Request.GetResources()];
        if (requested.Any(target => !allowed.Contains(target)))
        {
            // Note: RFC 8693 §2.2.2: the server is unwilling to issue a token for that target.
            context.Reject(Errors.InvalidTarget, "The client may not exchange tokens for one of the requested audiences or resources.");
            return;
        }

        var subjectScopes = subject.GetScopes().ToHashSet(StringComparer.Ordinal);
        var requestedScopes = context.Request.GetScopes();
        if (requestedScopes.Contains(Scopes.OfflineAccess))
        {
            context.Reject(Errors.InvalidScope, "Token exchange issues access tokens only: offline_access can't be requested.");
            return;
        }

        if (!requestedScopes.All(subjectScopes.Contains))
        {
            // Note: RFC 6749 §5.2 invalid_scope: a scope the subject token was never granted can't be gained by exchange.
            context.Reject(Errors.InvalidScope, "The requested scope exceeds the scope of the subject token.");
            return;
        }

        List<string> granted = requestedScopes.IsEmpty
            ? [.. subjectScopes.Where(scope => scope != Scopes.OfflineAccess).Order(StringComparer.Ordinal)]
            : [.. requestedScopes];
        var audiences = requested.Count > 0
            ? [.. requested.Distinct(StringComparer.Ordinal)]
            : (await scopes.ListResourcesAsync([.. granted], context.CancellationToken).ToListAsync(context.CancellationToken))
                .Where(allowed.Contains).Distinct(StringComparer.Ordinal).ToList();
        if (audiences.Count == 0)
        {
            context.Reject(Errors.InvalidTarget, "Name an audience or resource: none of the granted scopes is one the client may exchange for.");
            return;
        }

        if (context.ActorTokenPrincipal is { } actorToken
            && !string.Equals(actorToken.GetClaim(Claims.Subject), context.ClientId, StringComparison.Ordinal))
        {
            // Note: RFC 8693 §1.1: the actor is the party acting; here that is the authenticated client, so its own
            // token is the only acceptable actor token (another party's token would put a stranger in act).
            context.Reject(Errors.InvalidRequest, "The actor token must be the calling client's own token.");
            return;
        }

        if (!TryReadActor(subject.GetClaim("act"), out var priorActor))
        {
            context.Reject(Errors.InvalidRequest, "The subject token's delegation chain is too long or malformed.");
            return;
        }

        var user = subject.GetClaim(Claims.Subject);
        if (await admitted.AdmitAsync(user, context.CancellationToken) is null)
        {
            // Note: threat model 1.3: a user disabled or locked by an operator, or a token that names no user (a
            // client's own token), gets nothing by exchange either.
            context.Reject(Errors.InvalidRequest, "The subject token does not name a user who may sign in.");
            return;
        }

        decision.Allow(user!, granted, audiences, subject.GetAuthorizationId(), priorActor,
            subject.GetClaim(Claims.ClientId) ?? subject.GetPresenters().FirstOrDefault());
    }

    private static bool TryReadActor(string? value, out JsonObject? actor)
    {
        actor = null;
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        try
        {
            actor = JsonNode.Parse(value) as JsonObject;
        }
        catch (JsonException)
        {
            return false;
        }

        // Note: the new token adds one more actor on top of the chain.
        return actor is not null && TokenExchangeDecision.Chain(actor).Count < MaxActors;
    }
}
