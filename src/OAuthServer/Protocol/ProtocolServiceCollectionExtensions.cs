using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OAuthServer.Data;
using OAuthServer.Protocol.Device;
using OAuthServer.Protocol.Dpop;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Protocol;

internal static class ProtocolServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthProtocol(this IHostApplicationBuilder builder)
    {
        var server = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new();
        var tokens = builder.Configuration.GetSection(TokenOptions.Section).Get<TokenOptions>() ?? new();

        builder.Services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ServerOptions>, ServerOptionsValidator>();
        // Note: graceful shutdown: Kestrel stops accepting, drains the requests in flight, then the background
        // services stop (the event relay flushes); all within this budget.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = server.ShutdownTimeout);
        builder.Services.AddOptions<TokenOptions>().BindConfiguration(TokenOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<TokenOptions>, TokenOptionsValidator>();

        builder.Services.AddOpenIddict()
            .AddCore(core =>
            {
                core.UseEntityFrameworkCore().UseDbContext<OAuthDbContext>();
                // Note: OpenIddict's entity caches live one request and were a second layer over ours: clients and scopes
                // come from Catalog/, and a token found again in the same request is the one the context already tracks.
                core.DisableEntityCaching();
                core.ReplaceApplicationManager(typeof(VerifiedSecretApplicationManager<>));
                // Note: clients and scopes are read on every token request but change only through administration:
                // the protocol endpoints read them from memory, invalidated on every node by each change (Catalog/).
                core.ReplaceApplicationStore<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreApplication, Catalog.CatalogApplicationStore>()
                    .ReplaceScopeStore<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreScope, Catalog.CatalogScopeStore>()
                    .ReplaceTokenStore<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreToken, DeferredTokenRowStore>()
                    .ReplaceAuthorizationStore<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreAuthorization, DeferredAuthorizationRowStore>();
            })
            .AddServer(options =>
            {
                if (server.Issuer is not null)
                {
                    options.SetIssuer(server.Issuer);
                }

                options.SetAuthorizationEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.Authorize))
                    .SetPushedAuthorizationEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.PushedAuthorization))
                    .SetTokenEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.Token))
                    .SetIntrospectionEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.Introspection))
                    .SetRevocationEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.Revocation))
                    .SetUserInfoEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.UserInfo))
                    .SetEndSessionEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.EndSession))
                    .SetJsonWebKeySetEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.Jwks))
                    // Note: RFC 8414 metadata lives at its own well-known path; both names serve one document.
                    .SetConfigurationEndpointUris(ProtocolPaths.RelativeToIssuer(ProtocolPaths.OpenIdConfiguration), ProtocolPaths.RelativeToIssuer(ProtocolPaths.AuthorizationServerMetadata));

                // OAuth 2.1: the code flow (always with PKCE), refresh and client credentials. No implicit,
                // no hybrid, no password grant: they are not registered, so OpenIddict rejects them.
                options.AllowAuthorizationCodeFlow()
                    .AllowRefreshTokenFlow()
                    .AllowClientCredentialsFlow()
                    .RequireProofKeyForCodeExchange();

                options.RegisterScopes([.. StandardScopes.All]);

                // Note: OIDC Discovery 1.0 §3: how a person signed in (RFC 8176 amr, the acr ladder a client may ask
                // for with acr_values) is in every ID token, and in access tokens that are judged by it (RFC 9470).
                options.RegisterClaims(Claims.AuthenticationMethodReference, Claims.AuthenticationContextReference, Claims.AuthenticationTime)
                    .AddEventHandler(AcrValuesMetadataHandler.Descriptor);

                options.SetAccessTokenLifetime(tokens.AccessTokenLifetime)
                    .SetRefreshTokenLifetime(tokens.RefreshTokenLifetime)
                    .SetIdentityTokenLifetime(tokens.IdentityTokenLifetime)
                    // Note: codes are single-use and short-lived (RFC 9700 §4.5).
                    .SetAuthorizationCodeLifetime(TimeSpan.FromMinutes(5))
                    // Note: RFC 9700 §4.14.2: refresh tokens rotate on every use, and with a leeway of zero a
                    // replayed one is detected at once and revokes its whole authorization.
                    .SetRefreshTokenReuseLeeway(TimeSpan.Zero)
                    // Note: refresh tokens are opaque references; only their hash is stored (threat model 2.4).
                    .UseReferenceRefreshTokens()
                    // Note: access tokens are plain signed JWTs so resource servers can check them through JWKS.
                    .DisableAccessTokenEncryption();

                // Note: OAuth 2.1 §4.1.1 and threat model 2.2: S256 only. "plain" is removed from the supported
                // methods, so an explicit plain is refused and so is a challenge without a method (whose default is plain).
                options.Configure(settings => settings.CodeChallengeMethods.Remove(CodeChallengeMethods.Plain));
                // Note: RFC 7636 §4.1/§4.2: and the verifier and challenge must have the strength the RFC demands.
                options.AddEventHandler(PkceFormatHandler.AuthorizeDescriptor)
                    .AddEventHandler(PkceFormatHandler.PushedDescriptor)
                    .AddEventHandler(PkceFormatHandler.TokenDescriptor);

                // Note: RFC 7523 / OIDC Core §9: private_key_jwt, with the keys a client registered (jwks or
                // jwks_uri). OpenIddict checks the signature, typ, aud = issuer and iss = sub; ours add the alg, the
                // exp window, nbf/iat, the single-use jti across nodes and the jwks_uri fetch (Assertions/).
                foreach (var descriptor in Assertions.ClientAssertionHandlers.DefaultHandlers)
                {
                    options.AddEventHandler(descriptor);
                }

                // Note: RFC 9068 §2.2: every access token has an audience; userinfo refuses tokens without a user.
                options.AddEventHandler(AccessTokenAudienceHandler.Descriptor)
                    .AddEventHandler(UserInfoRequiresUserHandler.Descriptor);

                // Note: threat model 2.3 wants resource servers to check nbf; OpenIddict leaves it out unless the
                // token handler stamps default times, which adds nbf = iat.
                options.Configure(settings => settings.JsonWebTokenHandler.SetDefaultTimesOnTokenCreation = true);

                // Note: the same endpoint decisions as OpenIddict's inference, without resolving every endpoint path
                // against the base URI on every request (EndpointInferenceHandler).
                options.RemoveEventHandler(OpenIddict.Server.OpenIddictServerHandlers.InferEndpointType.Descriptor)
                    .AddEventHandler(EndpointInferenceHandler.Descriptor);

                // Note: OpenIddict's own redemption lets two simultaneous uses of one refresh token both succeed;
                // ours is one atomic conditional update that the database arbitrates, on every node.
                options.RemoveEventHandler(OpenIddict.Server.OpenIddictServerHandlers.RedeemTokenEntry.Descriptor)
                    .AddEventHandler(AtomicTokenRedemptionHandler.Descriptor);

                // Note: codes and refresh tokens are read only by this server: HMAC and AES key wrap instead of RSA.
                options.AddEventHandler(Keys.ServerTokenKeys.GenerationHandler.Descriptor)
                    .AddEventHandler(Keys.ServerTokenKeys.ValidationHandler.Descriptor)
                    .AddEventHandler(IdentityTokenRowsHandler.Descriptor);

                // Note: a token response's rows (access token, new refresh token) are written in one SaveChanges,
                // committed before the response is attached (DeferredTokenRowStore).
                options.AddEventHandler(DeferredTokenRowStore.SaveHandler.Descriptor);

                // Note: OpenIddict's revocation commits the token's new status on its own; ours commits it together
                // with the token.revoked event (the outbox is transactional, architecture §6).
                options.RemoveEventHandler(OpenIddict.Server.OpenIddictServerHandlers.Revocation.RevokeToken.Descriptor)
                    .AddEventHandler(TokenRevocationHandler.Descriptor);

                // Note: threat model 1.3: the account gate on every code and refresh redemption and every userinfo request.
                options.AddEventHandler(AccountGateHandler.TokenDescriptor)
                    .AddEventHandler(AccountGateHandler.UserInfoDescriptor)
                    .AddEventHandler(RedeemedTokenReplayHandler.Descriptor)
                    .AddEventHandler(TokensIssuedHandler.Descriptor);

                // Note: RFC 8252 §7.3: native clients' loopback redirects on any port; OpenIddict's exact match otherwise.
                options.AddEventHandler(LoopbackRedirectUriHandler.AuthorizeDescriptor).AddEventHandler(LoopbackRedirectUriHandler.PushedDescriptor);
                options.Configure(settings => LoopbackRedirectUriHandler.FilterBuiltInChecks(settings.Handlers));
                options.Services.AddSingleton<LoopbackRedirectUriHandler.RequireUndecided>();

                // Note: RFC 8628 device sign-in for TVs and CLIs: the device endpoint, the verification page, user
                // codes of §6.1 strength, the polling interval (Device/DeviceFlow). Clients opt in per grant.
                options.AddDeviceFlow();

                // Note: the refresh retry window (off by default): a retry of the refresh token just rotated gets the
                // same successor within the client's window, instead of revoking the family as a replay.
                options.AddEventHandler(RefreshRetryResponseHandler.Descriptor)
                    .AddEventHandler(RefreshSuccessorRecordHandler.Descriptor);
                options.Configure(settings => RefreshRetryResponseHandler.RequireNoAcceptedRetry.FilterBuiltInCheck(settings.Handlers));
                options.Services.AddSingleton<RefreshRetryResponseHandler.RequireNoAcceptedRetry>();

                // Note: RFC 8693 token exchange, for a service calling another on a user's behalf. Only clients an
                // operator gave the grant and a list of targets may use it (Exchange/TokenExchangeRequestHandler);
                // the subject and actor tokens are our access tokens only (never a refresh or ID token), and only
                // access tokens are issued.
                options.AllowTokenExchangeFlow();
                options.Configure(settings =>
                {
                    foreach (var types in new[] { settings.SubjectTokenTypes, settings.ActorTokenTypes, settings.RequestedTokenTypes })
                    {
                        types.Clear();
                        types.Add(TokenTypeIdentifiers.AccessToken);
                    }

                    settings.DefaultRequestedTokenType = TokenTypeIdentifiers.AccessToken;
                    Exchange.SkipForTokenExchange.FilterBuiltInChecks(settings.Handlers);
                });
                options.AddEventHandler(Exchange.TokenExchangeRequestHandler.Descriptor)
                    .AddEventHandler(Exchange.TokenExchangeIssuedHandler.Descriptor)
                    .AddEventHandler(Exchange.TokenExchangeErrorHandler.Descriptor);
                options.Services.AddSingleton<Exchange.SkipForTokenExchange>();

                // Note: RFC 9449: DPoP sender-constrained tokens, our own handlers (OpenIddict 7.8 has none; Dpop/).
                options.AddDpop();

                var aspNetCore = options.UseAspNetCore()
                    .EnableAuthorizationEndpointPassthrough()
                    .EnableTokenEndpointPassthrough()
                    .EnableUserInfoEndpointPassthrough()
                    .EnableEndSessionEndpointPassthrough()
                    // Note: compact JSON, like our own OAuth errors (OAuthErrorResponse): indentation is bytes on every
                    // token response that no client reads, and writing it showed up in the token path's profile.
                    .SuppressJsonResponseIndentation();

                if (!server.RequireHttps && builder.Environment.IsDevelopment())
                {
                    aspNetCore.DisableTransportSecurityRequirement();
                }
            });

        // Note: the same handlers in the same order as OpenIddict's dispatcher, without its walk of every descriptor
        // on each event (IndexedServerDispatcher).
        builder.Services.Replace(ServiceDescriptor.Scoped<OpenIddict.Server.IOpenIddictServerDispatcher, IndexedServerDispatcher>());
        builder.Services.AddSingleton<ServerHandlerIndex>();
        builder.Services.AddSingleton(new RegisteredLifetimes(builder.Services));
        builder.Services.AddSingleton<VerifiedClientSecrets>();
        builder.Services.AddOptions<Assertions.AssertionOptions>().BindConfiguration(Assertions.AssertionOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<Assertions.AssertionOptions>, Assertions.AssertionOptionsValidator>();
        builder.Services.AddSingleton<Assertions.JwksUriKeys>();
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddSingleton<Catalog.CatalogCache>();
        builder.Services.AddSingleton<Catalog.CatalogChangeNotifier>();
        builder.Services.AddScoped<Catalog.CatalogReads>();
        builder.Services.AddHostedService<Catalog.CatalogChangeListener>();
        builder.Services.AddSingleton<Keys.ServerTokenKeys>();
        builder.Services.AddScoped<UserIdentities>();
        builder.Services.AddScoped<TokenReplays>();
        builder.Services.AddScoped<RefreshRetryWindow>();
        builder.Services.AddScoped<Exchange.TokenExchangeDecision>();
        builder.Services.AddScoped<Exchange.TokenExchangeSignIn>();
        builder.Services.AddScoped<IPruningTask, TokenPruningTask>();
        builder.Services.AddScoped<SingleUse.SpentIds>();
        builder.Services.AddScoped<IPruningTask, SingleUse.SpentIdPruningTask>();
        return builder;
    }
}
