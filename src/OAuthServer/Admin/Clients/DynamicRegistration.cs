using Microsoft.Extensions.Options;
using OAuthServer.Events;
using OAuthServer.Protocol;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Admin;

/// <summary>
/// RFC 7591 dynamic client registration at <c>/connect/register</c>. Off unless Admin:DynamicRegistrationEnabled;
/// then it needs an initial access token (a client_credentials token with scope <c>oauth.register</c>) and applies
/// the rules every client obeys (<see cref="ClientRules"/>) with the limits of <see cref="ClientPolicy.Registration"/>. A registered client is a third party that signs users in, and gets only what the
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
        RegistrationRequest request, HttpContext context, ClientRegistry registry, IOptions<AdminOptions> options, TimeProvider clock)
    {
        var method = request.TokenEndpointAuthMethod ?? ClientAuthenticationMethods.ClientSecretBasic;
        var clientId = ClientRegistry.NewClientId();
        var registration = ToRegistration(request, method, clientId);
        if (!registration.Succeeded)
        {
            return Error(registration.Problem);
        }

        var secret = registration.Value.Secret;
        var confidential = secret is not null;
        var initialToken = AuditedEndpoints.Actor(context.User);
        context.RequestServices.GetRequiredService<AuditScope>().Begin($"registration:{initialToken}", AuditActions.ClientCreated, context.Connection.RemoteIpAddress?.ToString());
        var outcome = await registry.RegisterAsync(
            registration.Value, RequestOrigin.From(context, initialToken), ClientPolicy.Registration(options.Value.DynamicRegistrationScopes), context.RequestAborted);
        if (!outcome.Succeeded)
        {
            return Error(outcome.Problem);
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
            string.Join(' ', view.Scopes),
            view.DpopBoundAccessTokens,
            view.RequireSecondFactor)
        {
            Jwks = view.Jwks,
            JwksUri = view.JwksUri,
            LogoUri = view.LogoUri,
            ClientUri = view.ClientUri,
        }, statusCode: StatusCodes.Status201Created);
    }

    /// <summary>
    /// The RFC 7591 metadata as a registration, or the metadata this server can't express. Whether the
    /// registration is allowed is for <see cref="ClientRules"/>, with the limits of <see cref="ClientPolicy.Registration"/>.
    /// </summary>
    private static Outcome<ClientRegistration> ToRegistration(RegistrationRequest request, string method, string clientId)
    {
        if (method is not (ClientAuthenticationMethods.None or ClientAuthenticationMethods.ClientSecretBasic or ClientAuthenticationMethods.ClientSecretPost or ClientAuthenticationMethods.PrivateKeyJwt))
        {
            return Problem.Invalid("token_endpoint_auth_method", "token_endpoint_auth_method must be none, client_secret_basic, client_secret_post or private_key_jwt.");
        }

        // Note: RFC 7591 §2: jwks and jwks_uri serve private_key_jwt; with another method they would be keys no one checks.
        var keys = method == ClientAuthenticationMethods.PrivateKeyJwt;
        if (keys != (request.Jwks is { ValueKind: not System.Text.Json.JsonValueKind.Null } || request.JwksUri is not null))
        {
            return Problem.Invalid("jwks", "private_key_jwt needs jwks or jwks_uri, and jwks or jwks_uri need private_key_jwt.");
        }

        if (request.ResponseTypes is { } responseTypes && responseTypes.Any(type => type != ResponseTypes.Code))
        {
            return Problem.Invalid("response_types", "Only the code response type is supported (OAuth 2.1).");
        }

        ClientApplicationType? applicationType = request.ApplicationType switch
        {
            null or ApplicationTypes.Web => ClientApplicationType.Web,
            ApplicationTypes.Native => ClientApplicationType.Native,
            _ => null,
        };
        if (applicationType is null)
        {
            return Problem.Invalid("application_type", "application_type must be 'web' or 'native'.");
        }

        var confidential = method != ClientAuthenticationMethods.None;
        return new ClientRegistration
        {
            ClientId = clientId,
            DisplayName = request.ClientName,
            Kind = confidential ? ClientKind.Confidential : ClientKind.Public,
            ApplicationType = applicationType.Value,
            Secret = confidential && !keys ? ClientRegistry.NewSecret() : null,
            Jwks = keys && request.Jwks is { } jwks ? jwks.GetRawText() : null,
            JwksUri = keys ? request.JwksUri : null,
            RedirectUris = request.RedirectUris ?? [],
            PostLogoutRedirectUris = request.PostLogoutRedirectUris ?? [],
            GrantTypes = request.GrantTypes ?? [GrantTypes.AuthorizationCode, GrantTypes.RefreshToken],
            Scopes = (request.Scope ?? Scopes.OpenId).Split(' ', StringSplitOptions.RemoveEmptyEntries),
            ImplicitConsent = false,
            DpopBoundAccessTokens = request.DpopBoundAccessTokens ?? false,
            RequireSecondFactor = request.RequireSecondFactor ?? false,
            LogoUri = request.LogoUri,
            ClientUri = request.ClientUri,
        };
    }

    /// <summary>The one place a refused registration becomes RFC 7591 §3.2.2 error JSON.</summary>
    private static IResult Error(Problem problem) => Results.Json(
        new RegistrationError(
            problem.Field?.StartsWith("redirect_uris", StringComparison.Ordinal) == true ? "invalid_redirect_uri" : "invalid_client_metadata",
            problem.Message),
        statusCode: StatusCodes.Status400BadRequest);
}
