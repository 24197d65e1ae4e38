using System.Net;
using System.Text.Json;
using Duende.IdentityModel.Client;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Exchange;

/// <summary>
/// RFC 8693 token exchange: a service (orders) holding a user's token meant for it gets a narrower token for
/// another service (billing) on the user's behalf, with <c>act</c> naming it; every other attempt is refused over
/// HTTP with the RFC's error.
/// </summary>
[Collection(SharedPostgresServer.Name)]
public sealed class TokenExchangeTests(OAuthServerFactory server)
{
    private const string Secret = "exchange-service-secret-0123456789abcdef";
    private const string AccessTokenType = "urn:ietf:params:oauth:token-type:access_token";

    [Fact]
    public async Task A_standard_client_exchanges_a_user_token_for_a_narrower_one_that_names_it_as_actor()
    {
        var world = await World.CreateAsync(server);
        using var http = server.CreateApiClient();
        var discovery = await http.GetDiscoveryDocumentAsync(new DiscoveryDocumentRequest
        {
            Address = server.Issuer.ToString(),
            Policy = { RequireHttps = false, AllowHttpOnLoopback = true },
        });
        discovery.IsError.Should().BeFalse(discovery.Error);
        discovery.GrantTypesSupported.Should().Contain("urn:ietf:params:oauth:grant-type:token-exchange");

        var exchanged = await http.RequestTokenExchangeTokenAsync(new TokenExchangeTokenRequest
        {
            Address = discovery.TokenEndpoint,
            ClientId = world.Orders,
            ClientSecret = Secret,
            SubjectToken = world.AccessToken,
            SubjectTokenType = AccessTokenType,
            Audience = world.Billing,
            Scope = world.Billing,
        });
        exchanged.IsError.Should().BeFalse(exchanged.Raw);
        exchanged.IssuedTokenType.Should().Be(AccessTokenType);
        exchanged.TokenType.Should().Be("Bearer");
        exchanged.RefreshToken.Should().BeNull("an exchange issues an access token only");

        var validation = await new JsonWebTokenHandler().ValidateTokenAsync(exchanged.AccessToken, new TokenValidationParameters
        {
            ValidIssuer = discovery.Issuer,
            ValidAudience = world.Billing,
            IssuerSigningKeys = discovery.KeySet!.Keys.Select(key => new JsonWebKey(JsonSerializer.Serialize(key))),
            ValidTypes = ["at+jwt"],
        });
        validation.IsValid.Should().BeTrue(validation.Exception?.Message);

        var payload = Payload(exchanged.AccessToken!);
        payload.GetProperty("sub").GetString().Should().Be(world.UserId.ToString(), "the token still speaks for the user");
        payload.GetProperty("aud").ValueKind.Should().Be(JsonValueKind.String);
        payload.GetProperty("aud").GetString().Should().Be(world.Billing);
        payload.GetProperty("scope").GetString().Should().Be(world.Billing);
        payload.GetProperty("client_id").GetString().Should().Be(world.Orders);
        payload.GetProperty("act").GetProperty("sub").GetString().Should().Be(world.Orders);
        payload.GetProperty("act").TryGetProperty("act", out _).Should().BeFalse("orders is the first actor");

        var exchangedEvent = (await server.EventsForAsync(world.UserId)).Should().ContainSingle(item => item.Type == "token.exchanged").Subject;
        exchangedEvent.ClientId.Should().Be(world.Orders);
        using var data = JsonDocument.Parse(exchangedEvent.Data);
        data.RootElement.GetProperty("audiences")[0].GetString().Should().Be(world.Billing);
        data.RootElement.GetProperty("subject_client_id").GetString().Should().Be(world.Spa);
        exchangedEvent.Data.Should().NotContain(exchanged.AccessToken!).And.NotContain(world.AccessToken);
    }

    [Fact]
    public async Task Without_an_audience_the_exchanged_token_is_for_the_granted_scopes_the_client_may_reach()
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();

        var body = await (await ExchangeAsync(api, world.Orders, world.AccessToken)).ShouldSucceedAsync();

        var payload = Payload(body.GetProperty("access_token").GetString()!);
        payload.GetProperty("aud").GetString().Should().Be(world.Billing, "billing is the only target orders may exchange for");
        payload.GetProperty("scope").GetString()!.Split(' ').Should().NotContain("offline_access");
    }

    [Fact]
    public async Task A_client_without_the_grant_is_unauthorized()
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();

        // billing-less: a confidential client that names the audience but was never given token exchange.
        var stranger = await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = "stranger-" + Guid.NewGuid().ToString("N")[..8],
            Kind = ClientKind.Confidential,
            Secret = Secret,
            AllowClientCredentials = true,
            Scopes = [world.Billing],
        });

        await (await ExchangeAsync(api, stranger, world.AccessToken, ("audience", world.Billing))).ShouldFailWithAsync("unauthorized_client");
    }

    [Fact]
    public async Task A_public_client_can_not_exchange_even_its_own_token()
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();

        var response = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "urn:ietf:params:oauth:grant-type:token-exchange",
            ["client_id"] = world.Spa,
            ["subject_token"] = world.AccessToken,
            ["subject_token_type"] = AccessTokenType,
            ["audience"] = world.Billing,
        }));

        await response.ShouldFailWithAsync("unauthorized_client");
    }

    [Theory]
    [InlineData("audience", "ledger")]
    [InlineData("audience", "oauthserver")]
    [InlineData("resource", "https://billing.example/")]
    public async Task A_target_the_client_was_not_given_is_an_invalid_target(string parameter, string target)
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();
        var value = target == "ledger" ? world.Ledger : target;

        await (await ExchangeAsync(api, world.Orders, world.AccessToken, (parameter, value))).ShouldFailWithAsync("invalid_target");
        // One allowed and one not is still refused: every target must be allowed.
        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing), (parameter, value))).ShouldFailWithAsync("invalid_target");
    }

    [Fact]
    public async Task A_scope_the_subject_token_never_had_can_not_be_gained()
    {
        // The user granted orders only; orders itself may ask for billing, but not on the user's behalf.
        var world = await World.CreateAsync(server, userScopes: w => $"openid {w.Orders}");
        using var api = server.CreateApiClient();

        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing), ("scope", world.Billing))).ShouldFailWithAsync("invalid_scope");
        // offline_access: OpenIddict already refuses it to a client without the refresh grant (ours refuses it to any).
        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing), ("scope", "offline_access"))).ShouldFailWithAsync("invalid_request");
        // And without an audience, nothing it may reach was granted.
        await (await ExchangeAsync(api, world.Orders, world.AccessToken)).ShouldFailWithAsync("invalid_target");
    }

    [Fact]
    public async Task A_token_meant_for_another_service_is_refused()
    {
        // The user's token names orders and billing; a third service allowed to exchange for billing did not
        // receive it legitimately (its audience is not the third service, nor was it issued to it).
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();
        var thief = await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = "thief-" + Guid.NewGuid().ToString("N")[..8],
            Kind = ClientKind.Confidential,
            Secret = Secret,
            AllowClientCredentials = true,
            Scopes = [world.Billing],
            TokenExchangeAudiences = [world.Billing],
        });

        await (await ExchangeAsync(api, thief, world.AccessToken, ("audience", world.Billing))).ShouldFailWithAsync("invalid_request");
    }

    [Fact]
    public async Task Only_an_access_token_of_ours_is_a_subject_token()
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();

        // A refresh token or an ID token, declared as what it is or disguised as an access token.
        foreach (var (token, type) in new[]
        {
            (world.RefreshToken, "urn:ietf:params:oauth:token-type:refresh_token"),
            (world.RefreshToken, AccessTokenType),
            (world.IdentityToken, "urn:ietf:params:oauth:token-type:id_token"),
            (world.IdentityToken, AccessTokenType),
            (world.AccessToken + "x", AccessTokenType),
            (world.AccessToken, "urn:ietf:params:oauth:token-type:jwt"),
        })
        {
            await (await ExchangeAsync(api, world.Orders, token, ("subject_token_type", type), ("audience", world.Billing))).ShouldFailWithAsync("invalid_request");
        }

        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing),
            ("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"))).ShouldFailWithAsync("invalid_request");
        await (await ExchangeAsync(api, world.Orders, string.Empty, ("audience", world.Billing))).ShouldFailWithAsync("invalid_request");
    }

    [Fact]
    public async Task A_client_credentials_token_names_no_user_and_is_refused()
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();
        var own = await api.ClientCredentialsTokenAsync(world.Orders, Secret, world.Orders);

        await (await ExchangeAsync(api, world.Orders, own, ("audience", world.Billing))).ShouldFailWithAsync("invalid_request");
    }

    [Fact]
    public async Task A_revoked_subject_token_is_refused()
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();
        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing))).ShouldSucceedAsync();

        // The sign-in's family is revoked by a refresh replay: its access token is dead for exchange too.
        var successor = await (await api.RefreshAsync(world.Spa, world.RefreshToken)).ShouldSucceedAsync();
        await (await api.RefreshAsync(world.Spa, world.RefreshToken)).ShouldFailWithAsync("invalid_grant");

        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing))).ShouldFailWithAsync("invalid_request");
        await (await ExchangeAsync(api, world.Orders, successor.GetProperty("access_token").GetString()!, ("audience", world.Billing))).ShouldFailWithAsync("invalid_request");
    }

    [Fact]
    public async Task An_expired_subject_token_is_refused()
    {
        var world = await World.CreateAsync(server, accessTokenLifetime: TimeSpan.FromSeconds(1));
        using var api = server.CreateApiClient();
        var expiry = DateTimeOffset.FromUnixTimeSeconds(Payload(world.AccessToken).GetProperty("exp").GetInt64());

        await Task.Delay(expiry - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1.5));

        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing))).ShouldFailWithAsync("invalid_request");
    }

    [Theory]
    [InlineData("disable")]
    [InlineData("lock")]
    public async Task The_account_gate_applies_to_the_subject_user(string action)
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();
        // Disabling or locking through UserAccounts also revokes the user's tokens; here only the state changes, so
        // the subject token itself is still valid and the gate alone must refuse it.
        await server.ChangeUserAsync(world.Email, user => user.Status = action == "disable" ? OAuthServer.Accounts.AccountStatus.Disabled : OAuthServer.Accounts.AccountStatus.Locked);

        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing))).ShouldFailWithAsync("invalid_request");
    }

    [Fact]
    public async Task A_chained_exchange_nests_the_earlier_actor_and_the_chain_is_bounded()
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();

        var toBilling = (await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing))).ShouldSucceedAsync()).GetProperty("access_token").GetString()!;
        var toLedger = (await (await ExchangeAsync(api, world.Billing, toBilling, ("audience", world.Ledger))).ShouldSucceedAsync()).GetProperty("access_token").GetString()!;

        var act = Payload(toLedger).GetProperty("act");
        act.GetProperty("sub").GetString().Should().Be(world.Billing, "the current actor comes first (RFC 8693 §4.1)");
        act.GetProperty("act").GetProperty("sub").GetString().Should().Be(world.Orders);
        Payload(toLedger).GetProperty("sub").GetString().Should().Be(world.UserId.ToString());

        // A chain that goes round in circles ends at the bound.
        var loop = await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = world.Ledger,
            Kind = ClientKind.Confidential,
            Secret = Secret,
            AllowClientCredentials = true,
            Scopes = [world.Ledger],
            TokenExchangeAudiences = [world.Ledger],
        });
        var token = toLedger;
        var refused = false;
        for (var hop = 0; hop < 6 && !refused; hop++)
        {
            using var response = await ExchangeAsync(api, loop, token, ("audience", world.Ledger));
            if (response.StatusCode == HttpStatusCode.OK)
            {
                token = (await response.ShouldSucceedAsync()).GetProperty("access_token").GetString()!;
                continue;
            }

            await response.ShouldFailWithAsync("invalid_request");
            refused = true;
        }

        refused.Should().BeTrue();
        Depth(Payload(token).GetProperty("act")).Should().Be(OAuthServer.Protocol.Exchange.TokenExchangeRequestHandler.MaxActors);
    }

    [Fact]
    public async Task An_actor_token_must_be_the_callers_own()
    {
        var world = await World.CreateAsync(server);
        using var api = server.CreateApiClient();
        var own = await api.ClientCredentialsTokenAsync(world.Orders, Secret, world.Orders);
        var someoneElses = await api.ClientCredentialsTokenAsync(world.Billing, Secret, world.Billing);

        var body = await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing),
            ("actor_token", own), ("actor_token_type", AccessTokenType))).ShouldSucceedAsync();
        Payload(body.GetProperty("access_token").GetString()!).GetProperty("act").GetProperty("sub").GetString().Should().Be(world.Orders);

        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing),
            ("actor_token", someoneElses), ("actor_token_type", AccessTokenType))).ShouldFailWithAsync("invalid_request");
        await (await ExchangeAsync(api, world.Orders, world.AccessToken, ("audience", world.Billing),
            ("actor_token", world.AccessToken), ("actor_token_type", AccessTokenType))).ShouldFailWithAsync("invalid_request");
    }

    [Fact]
    public void Exchange_targets_are_an_operator_setting_for_confidential_clients_only()
    {
        var problems = ClientRules.Check(new ClientRegistration
        {
            ClientId = "public-exchanger",
            Kind = ClientKind.Public,
            RedirectUris = ["https://app.example/cb"],
            TokenExchangeAudiences = ["billing"],
        });
        problems.Should().Contain(problem => problem.Field == "token_exchange_audiences");

        var registration = ClientRules.Check(new ClientRegistration
        {
            ClientId = "registered-exchanger",
            Kind = ClientKind.Confidential,
            Secret = Secret,
            RedirectUris = ["https://app.example/cb"],
            TokenExchangeAudiences = ["billing"],
        }, ClientPolicy.Registration([]));
        registration.Should().Contain(problem => problem.Field == "token_exchange_audiences" && problem.Code == "grant_type_not_allowed");

        ClientRules.Check(new ClientRegistration
        {
            ClientId = "bad-targets",
            Kind = ClientKind.Confidential,
            Secret = Secret,
            AllowClientCredentials = true,
            TokenExchangeAudiences = ["oauthserver", "https://x.example/#frag", "has space", "ftp://x.example/"],
        }).Where(problem => problem.Field?.StartsWith("token_exchange_audiences[", StringComparison.Ordinal) == true).Should().HaveCount(4);
    }

    private static Task<HttpResponseMessage> ExchangeAsync(HttpClient api, string clientId, string subjectToken, params (string Name, string Value)[] extra)
    {
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "urn:ietf:params:oauth:grant-type:token-exchange",
            ["client_id"] = clientId,
            ["client_secret"] = Secret,
            ["subject_token"] = subjectToken,
            ["subject_token_type"] = AccessTokenType,
        };
        var pairs = form.Where(pair => extra.All(item => item.Name != pair.Key)).Select(pair => new KeyValuePair<string, string>(pair.Key, pair.Value))
            .Concat(extra.Select(item => new KeyValuePair<string, string>(item.Name, item.Value)));
        return api.PostAsync("/connect/token", new FormUrlEncodedContent(pairs));
    }

    internal static JsonElement Payload(string jwt) =>
        JsonDocument.Parse(Base64UrlEncoder.Decode(jwt.Split('.')[1])).RootElement.Clone();

    private static int Depth(JsonElement act) => act.TryGetProperty("act", out var inner) ? 1 + Depth(inner) : 1;

    /// <summary>
    /// Three services whose client_id is their API's audience (orders may exchange for billing, billing for ledger),
    /// a first-party SPA, and a user signed in to it with tokens for orders and billing.
    /// </summary>
    private sealed record World(string Orders, string Billing, string Ledger, string Spa, string Email, Guid UserId, string AccessToken, string RefreshToken, string IdentityToken)
    {
        public static async Task<World> CreateAsync(OAuthServerFactory server, Func<World, string>? userScopes = null, TimeSpan? accessTokenLifetime = null)
        {
            var tag = Guid.NewGuid().ToString("N")[..8];
            var (orders, billing, ledger) = ($"orders-{tag}", $"billing-{tag}", $"ledger-{tag}");
            await server.RegisterClientAsync(new ClientRegistration
            {
                ClientId = orders, Kind = ClientKind.Confidential, Secret = Secret, AllowClientCredentials = true,
                Scopes = [orders, billing], TokenExchangeAudiences = [billing],
            });
            await server.RegisterClientAsync(new ClientRegistration
            {
                ClientId = billing, Kind = ClientKind.Confidential, Secret = Secret, AllowClientCredentials = true,
                Scopes = [billing, ledger], TokenExchangeAudiences = [ledger],
            });
            var spa = "spa-" + tag;
            var redirectUri = $"http://127.0.0.1:8123/{spa}/callback";
            await server.RegisterClientAsync(new ClientRegistration
            {
                ClientId = spa, Kind = ClientKind.Public, RedirectUris = [redirectUri], ImplicitConsent = true,
                Scopes = ["openid", "profile", "email", "offline_access", orders, billing],
                AccessTokenLifetime = accessTokenLifetime,
            });
            var email = await server.CreateUserAsync();
            var draft = new World(orders, billing, ledger, spa, email, Guid.Empty, string.Empty, string.Empty, string.Empty);
            var scope = userScopes?.Invoke(draft) ?? $"openid offline_access {orders} {billing}";
            var signedIn = await SignedIn.ForAsync(server, email, spa, redirectUri, scope);
            using var api = server.CreateApiClient();
            var tokens = await signedIn.RedeemAsync(api);
            return draft with
            {
                UserId = (await server.ReadUserAsync(email)).Id,
                AccessToken = tokens.GetProperty("access_token").GetString()!,
                RefreshToken = tokens.TryGetProperty("refresh_token", out var refresh) ? refresh.GetString()! : string.Empty,
                IdentityToken = tokens.GetProperty("id_token").GetString()!,
            };
        }
    }
}
