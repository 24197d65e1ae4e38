using Microsoft.Extensions.Options;
using OAuthServer.Events;
using OAuthServer.Protocol;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>
/// RFC 7591 dynamic client registration at <c>/connect/register</c>. Off unless Admin:DynamicRegistrationEnabled;
/// then it needs an initial access token (a client_credentials token with scope <c>oauth.register</c>) and applies
/// the admin API's rules. A registered client is a third party that signs users in, and gets only what the
/// operator allowed for such clients: the code flow (with refresh tokens) and always explicit consent; the OpenID
/// scopes and the API scopes listed in Admin:DynamicRegistrationScopes. Never client_credentials (a token with no
/// user and no consent) and never a privileged scope: those are granted through the admin API only.
/// </summary>
internal static class DynamicRegistration
{
    public const string Path = ProtocolPaths.Register;

    public static void Map(IEndpointRouteBuilder app)
    {
        // Note: off means absent: with registration disabled the path is a plain 404, not a challenge.
        if (app.ServiceProvider.GetRequiredService<IOptions<AdminOptions>>().Value.DynamicRegistrationEnabled)
        {
            app.MapPost(Path, RegisterAsync).RequireAuthorization(AdminScopes.RegisterPolicy).ExcludeFromDescription();
        }
    }

    private static async Task<IResult> RegisterAsync(
        RegistrationRequest request, HttpContext context, ClientRegistry registry, IOpenIddictScopeManager scopes, IOptions<AdminOptions> options, TimeProvider clock)
    {
        var method = request.TokenEndpointAuthMethod ?? ClientAuthenticationMethods.ClientSecretBasic;
        if (method is not (ClientAuthenticationMethods.None or ClientAuthenticationMethods.ClientSecretBasic or ClientAuthenticationMethods.ClientSecretPost))
        {
            return Error("invalid_client_metadata", "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post.");
        }

        if (request.ResponseTypes is { } responseTypes && responseTypes.Any(type => type != ResponseTypes.Code))
        {
            return Error("invalid_client_metadata", "Only the code response type is supported (OAuth 2.1).");
        }

        // Note: threat model 3.1: a registration token is not an admin token. client_credentials would give the
        // caller API tokens with no user and no consent, so only the grants of a client that signs users in are open.
        if (request.GrantTypes is { } grantTypes && grantTypes.Any(grant => grant is not (GrantTypes.AuthorizationCode or GrantTypes.RefreshToken)))
        {
            return Error("invalid_client_metadata", "Only the authorization_code and refresh_token grant types can be registered; machine clients are created through the admin API.");
        }

        var requested = (request.Scope ?? Scopes.OpenId).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var scope in requested)
        {
            // Note: privileges are never taken from client input. A registration can only name the OpenID scopes
            // and the API scopes the operator opened to registered clients, and those only if they exist.
            if (!IsStandard(scope)
                && (!options.Value.DynamicRegistrationScopes.Contains(scope, StringComparer.Ordinal) || AdminScopes.IsPrivileged(scope)
                    || await scopes.FindByNameAsync(scope, context.RequestAborted) is null))
            {
                return Error("invalid_client_metadata", $"Scope '{scope}' can't be registered.");
            }
        }

        var confidential = method != ClientAuthenticationMethods.None;
        var clientId = ClientRegistry.NewClientId();
        var secret = confidential ? ClientRegistry.NewSecret() : null;
        var (registration, problems) = new ClientRequest
        {
            DisplayName = request.ClientName,
            Type = confidential ? ClientTypes.Confidential : ClientTypes.Public,
            ApplicationType = request.ApplicationType,
            RedirectUris = request.RedirectUris,
            PostLogoutRedirectUris = request.PostLogoutRedirectUris,
            GrantTypes = request.GrantTypes ?? [GrantTypes.AuthorizationCode, GrantTypes.RefreshToken],
            Scopes = [.. requested],
            Consent = "explicit",
        }.ToRegistration(clientId, secret);

        var initialToken = AdminApi.Actor(context.User);
        context.RequestServices.GetRequiredService<AuditScope>().Begin($"registration:{initialToken}", "client.register", context.Connection.RemoteIpAddress?.ToString());
        if (registration is not null)
        {
            problems = [.. await registry.RegisterAsync(registration, RequestOrigin.From(context, initialToken), context.RequestAborted)];
        }

        if (problems.Count > 0)
        {
            var first = problems[0];
            return Error(first.Field.StartsWith("redirect_uris", StringComparison.Ordinal) ? "invalid_redirect_uri" : "invalid_client_metadata", first.Message);
        }

        var view = (await registry.GetAsync(clientId, context.RequestAborted))!;
        return Results.Json(new RegistrationResponse(
            view.ClientId,
            secret,
            clock.GetUtcNow().ToUnixTimeSeconds(),
            confidential ? 0 : null,
            view.DisplayName,
            view.RedirectUris,
            view.PostLogoutRedirectUris,
            view.GrantTypes,
            view.GrantTypes.Contains(GrantTypes.AuthorizationCode) ? [ResponseTypes.Code] : [],
            method,
            view.ApplicationType,
            string.Join(' ', view.Scopes)), statusCode: StatusCodes.Status201Created);
    }

    private static bool IsStandard(string scope) => scope is Scopes.OpenId or Scopes.Profile or Scopes.Email or Scopes.OfflineAccess;

    private static IResult Error(string error, string description) =>
        Results.Json(new RegistrationError(error, description), statusCode: StatusCodes.Status400BadRequest);
}
