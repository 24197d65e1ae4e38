using System.Net.Http.Json;
using System.Text.Json;
using System.Net;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Reliability;

/// <summary>
/// Two processes of the server on one PostgreSQL, Redis, NATS and key folder behave as one server: what
/// happens at one node (a token, a revocation, a lockout) holds at the other.
/// </summary>
public sealed class ClusterTests(ClusterNodes cluster) : IClassFixture<ClusterNodes>
{
    private const string Password = "cluster-test-password-long-enough";
    private const string Secret = "cluster-client-secret-0123456789abcdef";
    private const string RedirectUri = "http://127.0.0.1:8123/cluster/callback";

    [Fact]
    public async Task A_token_from_node_A_refreshes_and_introspects_at_node_B_and_a_revocation_at_A_holds_at_B()
    {
        var (clientId, email) = await ClientAndUserAsync();
        var pkce = Pkce.Create();
        var redirect = await new BrowserFlow(cluster.A).SignInAsync(
            BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, RedirectUri, pkce)), email, Password);
        using var atA = ClusterNodes.Api(cluster.A);
        using var atB = ClusterNodes.Api(cluster.B);
        var tokens = await (await atA.PostAsync("/connect/token", Form(clientId,
            ("grant_type", "authorization_code"), ("code", BrowserFlow.Query(redirect.Headers.Location!)["code"]),
            ("redirect_uri", RedirectUri), ("code_verifier", pkce.Verifier)))).ShouldSucceedAsync();

        // Refreshes at B, and B's answer introspects as active at B.
        var refreshed = await (await atB.PostAsync("/connect/token", Form(clientId,
            ("grant_type", "refresh_token"), ("refresh_token", tokens.GetProperty("refresh_token").GetString()!)))).ShouldSucceedAsync();
        (await IntrospectAsync(atB, clientId, tokens.GetProperty("access_token").GetString()!)).Should().BeTrue("A's access token is valid at B");
        var refreshToken = refreshed.GetProperty("refresh_token").GetString()!;
        (await IntrospectAsync(atB, clientId, refreshToken)).Should().BeTrue();

        // Revoked at A: refused at B.
        (await atA.PostAsync("/connect/revoke", Form(clientId, ("token", refreshToken), ("token_type_hint", "refresh_token")))).StatusCode.Should().Be(HttpStatusCode.OK);
        (await IntrospectAsync(atB, clientId, refreshToken)).Should().BeFalse("a revocation at A holds at B");
        await (await atB.PostAsync("/connect/token", Form(clientId, ("grant_type", "refresh_token"), ("refresh_token", refreshToken)))).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task The_admin_API_at_either_node_sees_the_same_state()
    {
        using var adminA = await AdminAsync(cluster.A);
        using var adminB = await AdminAsync(cluster.B);

        // A client registered at A is read, rotated and deleted at B, and its audit trail is the same at both.
        using var created = await adminA.PostAsJsonAsync("/admin/clients", new { type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "api" } });
        created.StatusCode.Should().Be(HttpStatusCode.Created);
        var clientId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("client_id").GetString()!;
        (await adminB.GetAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await adminB.PostAsync($"/admin/clients/{clientId}/secret", null)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await adminB.DeleteAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await adminA.GetAsync($"/admin/clients/{clientId}")).StatusCode.Should().Be(HttpStatusCode.NotFound);

        var actionsAtA = await AuditActionsAsync(adminA, clientId);
        actionsAtA.Should().Equal("client.created", "client.secret_rotated", "client.deleted");
        (await AuditActionsAsync(adminB, clientId)).Should().Equal(actionsAtA);

        // A user disabled at B can't sign in at A.
        using var user = await adminA.PostAsJsonAsync("/admin/users", new { email = $"cluster-admin-{Guid.NewGuid():N}@example.com", password = Password });
        var userId = (await user.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        (await adminB.PostAsync($"/admin/users/{userId}/disable", null)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await adminA.GetFromJsonAsync<JsonElement>($"/admin/users/{userId}")).GetProperty("status").GetString().Should().Be("disabled");
    }

    // The attack: a client whose secret was rotated, or which was deleted, at one node keeps getting tokens from a
    // node that remembers it. Each node keeps clients and scopes in memory for up to a minute (CatalogCache.MaxAge),
    // so "within a few seconds" can only hold because the change notification reaches every node.
    [Fact]
    public async Task A_client_rotated_or_deleted_at_one_node_is_refused_at_the_other_within_seconds()
    {
        using var adminA = await AdminAsync(cluster.A);
        using var atA = ClusterNodes.Api(cluster.A);
        using var atB = ClusterNodes.Api(cluster.B);
        using var created = await adminA.PostAsJsonAsync("/admin/clients", new { type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "api" } });
        created.StatusCode.Should().Be(HttpStatusCode.Created);
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        var clientId = body.GetProperty("client_id").GetString()!;
        var oldSecret = body.GetProperty("client_secret").GetString()!;
        // Both nodes have read (and remember) the client, and have verified its secret.
        await atB.ClientCredentialsTokenAsync(clientId, oldSecret, "api", waitForClient: true);
        await atA.ClientCredentialsTokenAsync(clientId, oldSecret, "api");

        using var rotated = await adminA.PostAsync($"/admin/clients/{clientId}/secret", null);
        rotated.StatusCode.Should().Be(HttpStatusCode.OK);
        var newSecret = (await rotated.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("client_secret").GetString()!;
        (await SecondsUntilRefusedAsync(atA, clientId, oldSecret)).Should().BeLessThan(1, "the node that made the change forgets at once");
        (await SecondsUntilRefusedAsync(atB, clientId, oldSecret)).Should().BeLessThan(5, "the other node hears of the change");
        await atB.ClientCredentialsTokenAsync(clientId, newSecret, "api");

        // Deleted from the command line (another process): both nodes stop issuing to it.
        var deleted = await cluster.RunCliWithOutputAsync(["clients", "delete", "--client-id", clientId], string.Empty);
        deleted.ExitCode.Should().Be(0, deleted.Error);
        (await SecondsUntilRefusedAsync(atA, clientId, newSecret)).Should().BeLessThan(5);
        (await SecondsUntilRefusedAsync(atB, clientId, newSecret)).Should().BeLessThan(5);
    }

    // A variation the cache was not designed around: its listener's connection is killed and, in the gap, a client is
    // changed with no notification at all (straight SQL). The node must stop answering from memory while it can't
    // hear, and start again empty, rather than keep what it had.
    [Fact]
    public async Task A_change_made_while_the_nodes_could_not_hear_is_not_served_from_memory()
    {
        using var adminA = await AdminAsync(cluster.A);
        using var atB = ClusterNodes.Api(cluster.B);
        using var created = await adminA.PostAsJsonAsync("/admin/clients", new { type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "api" } });
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        var clientId = body.GetProperty("client_id").GetString()!;
        var secret = body.GetProperty("client_secret").GetString()!;
        await atB.ClientCredentialsTokenAsync(clientId, secret, "api", waitForClient: true);

        await using (var connection = new Npgsql.NpgsqlConnection(cluster.ConnectionString))
        {
            await connection.OpenAsync();
            await using var silent = new Npgsql.NpgsqlCommand("""
                UPDATE "OpenIddictApplications" SET "Permissions" = '["ept:token"]' WHERE "ClientId" = @client;
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %';
                """, connection);
            silent.Parameters.AddWithValue("client", clientId);
            ((long)(await silent.ExecuteScalarAsync())!).Should().BeGreaterThanOrEqualTo(2, "each node has a listener");
        }

        (await SecondsUntilRefusedAsync(atB, clientId, secret)).Should().BeLessThan(5, "the client lost its client_credentials permission");
    }

    // Seconds until a client_credentials request with that secret is refused (20 s when it never is).
    private static async Task<double> SecondsUntilRefusedAsync(HttpClient api, string clientId, string secret)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        while (started.Elapsed < TimeSpan.FromSeconds(20))
        {
            using var response = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["client_secret"] = secret, ["scope"] = "api",
            }));
            if (response.StatusCode != HttpStatusCode.OK)
            {
                ((int)response.StatusCode).Should().BeOneOf(400, 401, 403);
                return started.Elapsed.TotalSeconds;
            }

            await Task.Delay(50);
        }

        return started.Elapsed.TotalSeconds;
    }

    private static async Task<HttpClient> AdminAsync(Uri node)
    {
        using var api = ClusterNodes.Api(node);
        var token = await api.ClientCredentialsTokenAsync("admin-cli", ClusterNodes.AdminSecret, "oauth.admin", waitForClient: true);
        var client = ClusterNodes.Api(node);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static async Task<List<string?>> AuditActionsAsync(HttpClient admin, string clientId) =>
        [.. (await admin.GetFromJsonAsync<JsonElement>("/admin/audit?limit=500")).GetProperty("items").EnumerateArray()
            .Where(row => row.GetProperty("target_id").GetString() == clientId).Select(row => row.GetProperty("action").GetString())];

    [Fact]
    public async Task A_lockout_at_node_A_holds_at_node_B()
    {
        var (_, email) = await ClientAndUserAsync();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            (await LoginAsync(cluster.A, email, "a-wrong-password-for-the-cluster")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        }

        (await LoginAsync(cluster.B, email, Password)).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the account locked at A is locked at B");
    }

    [Fact]
    public async Task A_device_started_at_node_A_and_approved_at_node_B_is_redeemed_once_and_slowed_down_across_nodes()
    {
        var (_, email) = await ClientAndUserAsync();
        var deviceClient = "cluster-tv-" + Guid.NewGuid().ToString("N")[..8];
        (await cluster.RunCliAsync(["clients", "add", "--client-id", deviceClient, "--type", "public", "--device-code",
            "--scope", "openid", "--scope", "offline_access", "--scope", "api"], string.Empty)).Should().Be(0);
        using var atA = ClusterNodes.Api(cluster.A);
        using var atB = ClusterNodes.Api(cluster.B);
        var (_, device) = await DeviceSteps.AuthorizeDeviceAsync(atA, deviceClient);
        var deviceCode = device.GetProperty("device_code").GetString()!;

        // Polled at A, then at once at B: the interval is one window for both nodes (Redis).
        (await DeviceSteps.PollAsync(atA, deviceClient, deviceCode)).Body.GetProperty("error").GetString().Should().Be("authorization_pending");
        (await DeviceSteps.PollAsync(atB, deviceClient, deviceCode)).Body.GetProperty("error").GetString().Should().Be("slow_down", "a second node is no way around the interval");

        // The user approves at B (signing in there); the device, polling at A after the interval, gets the tokens.
        await DeviceSteps.ApproveAsync(new BrowserFlow(cluster.B), device.GetProperty("user_code").GetString()!, email, Password);
        await Task.Delay(TimeSpan.FromSeconds(device.GetProperty("interval").GetInt64()));
        var (status, tokens) = await DeviceSteps.PollAsync(atA, deviceClient, deviceCode);
        status.Should().Be(HttpStatusCode.OK, "the approval at B holds at A ({0})", tokens);
        await Task.Delay(TimeSpan.FromSeconds(device.GetProperty("interval").GetInt64()));
        var refresh = await atB.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["client_id"] = deviceClient, ["refresh_token"] = tokens.GetProperty("refresh_token").GetString()!,
        }));
        var refreshed = await refresh.ShouldSucceedAsync();

        // Redeemed at A, presented again at B: a copied device code, so the sign-in it produced ends, at both nodes.
        (await DeviceSteps.PollAsync(atB, deviceClient, deviceCode)).Body.GetProperty("error").GetString().Should().Be("invalid_grant", "redeemed at A, refused at B");
        await (await atA.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["client_id"] = deviceClient, ["refresh_token"] = refreshed.GetProperty("refresh_token").GetString()!,
        }))).ShouldFailWithAsync("invalid_grant");
    }

    // The attack: a captured DPoP proof or a stolen bound refresh token taken to the node that did not see the
    // first use. The proof's jti ledger and the refresh token's key live in the shared database, and htu is the
    // public issuer's URL (node A's here) whichever node answers.
    [Fact]
    public async Task A_DPoP_proof_used_at_node_A_is_refused_at_node_B_and_a_bound_refresh_at_B_needs_the_bound_key()
    {
        var clientId = "cluster-dpop-" + Guid.NewGuid().ToString("N")[..8];
        (await cluster.RunCliAsync(["clients", "add", "--client-id", clientId, "--type", "public", "--redirect-uri", RedirectUri,
            "--scope", "openid", "--scope", "offline_access", "--consent", "implicit", "--dpop-bound-access-tokens"], string.Empty)).Should().Be(0);
        var (_, email) = await ClientAndUserAsync();
        using var key = DpopKey.Es256();
        using var stranger = DpopKey.Es256();
        var tokenUrl = cluster.A + "connect/token";
        var pkce = Pkce.Create();
        var redirect = await new BrowserFlow(cluster.A).SignInAsync(
            BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, RedirectUri, pkce, "openid offline_access")), email, Password);
        using var atA = ClusterNodes.Api(cluster.A);
        using var atB = ClusterNodes.Api(cluster.B);
        var proof = key.Proof("POST", tokenUrl);
        var tokens = await (await DpopPostAsync(atA, proof, ("grant_type", "authorization_code"), ("client_id", clientId),
            ("code", BrowserFlow.Query(redirect.Headers.Location!)["code"]), ("redirect_uri", RedirectUri), ("code_verifier", pkce.Verifier))).ShouldSucceedAsync();
        tokens.GetProperty("token_type").GetString().Should().Be("DPoP");
        var refreshToken = tokens.GetProperty("refresh_token").GetString()!;

        await (await DpopPostAsync(atB, proof, ("grant_type", "refresh_token"), ("client_id", clientId), ("refresh_token", refreshToken)))
            .ShouldFailWithAsync("invalid_dpop_proof");
        await (await DpopPostAsync(atB, stranger.Proof("POST", tokenUrl), ("grant_type", "refresh_token"), ("client_id", clientId), ("refresh_token", refreshToken)))
            .ShouldFailWithAsync("invalid_grant");
        await (await DpopPostAsync(atB, null, ("grant_type", "refresh_token"), ("client_id", clientId), ("refresh_token", refreshToken)))
            .ShouldFailWithAsync("invalid_grant");
        var refreshed = await (await DpopPostAsync(atB, key.Proof("POST", tokenUrl), ("grant_type", "refresh_token"), ("client_id", clientId), ("refresh_token", refreshToken)))
            .ShouldSucceedAsync();
        refreshed.GetProperty("token_type").GetString().Should().Be("DPoP");
    }

    private static async Task<HttpResponseMessage> DpopPostAsync(HttpClient node, string? proof, params (string Key, string Value)[] fields)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/token")
        {
            Content = new FormUrlEncodedContent(fields.Select(field => new KeyValuePair<string, string>(field.Key, field.Value))),
        };
        if (proof is not null)
        {
            request.Headers.Add("DPoP", proof);
        }

        return await node.SendAsync(request);
    }

    private async Task<(string ClientId, string Email)> ClientAndUserAsync(params string[] clientOptions)
    {
        var clientId = "cluster-" + Guid.NewGuid().ToString("N")[..8];
        var email = $"cluster-{Guid.NewGuid():N}@example.com";
        (await cluster.RunCliAsync(["clients", "add", "--client-id", clientId, "--type", "confidential", "--redirect-uri", RedirectUri,
            "--scope", "openid", "--scope", "offline_access", "--scope", "api", "--consent", "implicit", "--secret-stdin", .. clientOptions], Secret)).Should().Be(0);
        (await cluster.RunCliAsync(["users", "add", "--email", email, "--password-stdin"], Password)).Should().Be(0);
        return (clientId, email);
    }

    [Fact]
    public async Task A_refresh_rotated_at_A_and_retried_at_B_inside_the_window_gets_the_same_successor_and_after_it_is_a_replay()
    {
        var (clientId, email) = await ClientAndUserAsync("--refresh-retry-window", "2");
        using var atA = ClusterNodes.Api(cluster.A);
        using var atB = ClusterNodes.Api(cluster.B);

        var first = await SignInAtAAsync(clientId, email, "openid offline_access api");
        var successor = (await (await atA.PostAsync("/connect/token", Form(clientId, ("grant_type", "refresh_token"), ("refresh_token", first.GetProperty("refresh_token").GetString()!))))
            .ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;
        var retried = await (await atB.PostAsync("/connect/token", Form(clientId, ("grant_type", "refresh_token"), ("refresh_token", first.GetProperty("refresh_token").GetString()!))))
            .ShouldSucceedAsync();
        retried.GetProperty("refresh_token").GetString().Should().Be(successor, "B reads the successor A sealed, through the shared key ring");

        // Past the 2-second window the same retry at B is a replay, and it revokes the family A issued.
        var second = await SignInAtAAsync(clientId, email, "openid offline_access api");
        var lost = (await (await atA.PostAsync("/connect/token", Form(clientId, ("grant_type", "refresh_token"), ("refresh_token", second.GetProperty("refresh_token").GetString()!))))
            .ShouldSucceedAsync()).GetProperty("refresh_token").GetString()!;
        await Task.Delay(TimeSpan.FromSeconds(3));
        await (await atB.PostAsync("/connect/token", Form(clientId, ("grant_type", "refresh_token"), ("refresh_token", second.GetProperty("refresh_token").GetString()!)))).ShouldFailWithAsync("invalid_grant");
        await (await atA.PostAsync("/connect/token", Form(clientId, ("grant_type", "refresh_token"), ("refresh_token", lost)))).ShouldFailWithAsync("invalid_grant");
    }

    [Fact]
    public async Task A_user_token_from_node_A_is_exchanged_at_node_B_by_a_service_registered_through_the_CLI()
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var (orders, billing) = ($"orders-{tag}", $"billing-{tag}");
        (await cluster.RunCliAsync(["clients", "add", "--client-id", orders, "--type", "confidential", "--client-credentials",
            "--scope", orders, "--scope", billing, "--token-exchange-audience", billing, "--secret-stdin"], Secret)).Should().Be(0);
        var (clientId, email) = await ClientAndUserAsync("--scope", orders, "--scope", billing);
        var tokens = await SignInAtAAsync(clientId, email, $"openid {orders} {billing}");
        using var atB = ClusterNodes.Api(cluster.B);

        var exchanged = await (await atB.PostAsync("/connect/token", Form(orders,
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", tokens.GetProperty("access_token").GetString()!),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("audience", billing)))).ShouldSucceedAsync();

        var payload = Exchange.TokenExchangeTests.Payload(exchanged.GetProperty("access_token").GetString()!);
        payload.GetProperty("aud").GetString().Should().Be(billing);
        payload.GetProperty("act").GetProperty("sub").GetString().Should().Be(orders);
        await (await atB.PostAsync("/connect/token", Form(orders,
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", tokens.GetProperty("access_token").GetString()!),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("audience", "api")))).ShouldFailWithAsync("invalid_target");
    }

    // The attack: an assertion captured (or simply sent twice) is replayed at the other node, alone or raced. Each
    // node checks the signature on its own, so only the shared ledger of spent jti values (SpentIds) stops it.
    [Fact]
    public async Task A_client_assertion_used_at_node_A_is_refused_at_node_B_and_a_race_over_both_nodes_serves_one()
    {
        var key = Conformance.ClientKey.Ec(kid: "cluster-1");
        using var adminA = await AdminAsync(cluster.A);
        using var created = await adminA.PostAsJsonAsync("/admin/clients", new
        {
            type = "confidential",
            grant_types = new[] { "client_credentials" },
            scopes = new[] { "api" },
            token_endpoint_auth_method = "private_key_jwt",
            jwks = key.Jwks,
        });
        created.StatusCode.Should().Be(HttpStatusCode.Created);
        var clientId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("client_id").GetString()!;
        using var atA = ClusterNodes.Api(cluster.A);
        using var atB = ClusterNodes.Api(cluster.B);
        // Note: one issuer for both nodes (A's URL, as a load balancer presents it), so one aud is good at either.
        Task<HttpResponseMessage> TokenAsync(HttpClient node, string assertion) => node.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = clientId, ["scope"] = "api",
            ["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", ["client_assertion"] = assertion,
        }));

        // B knows the client (the notification reached it) before the replay means anything.
        await (await RetryUntilKnownAsync(() => TokenAsync(atB, key.Assertion(clientId, cluster.A)))).ShouldSucceedAsync();
        var assertion = key.Assertion(clientId, cluster.A);
        await (await TokenAsync(atA, assertion)).ShouldSucceedAsync();
        using var replayed = await TokenAsync(atB, assertion);
        replayed.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "spent at A, replayed at B: {0}", await replayed.Content.ReadAsStringAsync());
        (await BrowserFlow.JsonAsync(replayed)).GetProperty("error").GetString().Should().Be("invalid_client");

        // One fresh assertion, sent 10 times at once, alternately to A and B: exactly one is served.
        var fresh = key.Assertion(clientId, cluster.A);
        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(index => TokenAsync(index % 2 == 0 ? atA : atB, fresh)));
        // Note: the losers spend the client's client-auth failure budget, so the last of them may meet 429 instead.
        var statuses = responses.Select(response => (int)response.StatusCode).ToList();
        statuses.Count(status => status == 200).Should().Be(1, "one assertion, one token, whichever node: {0}", string.Join(",", statuses));
        statuses.Where(status => status != 200).Should().OnlyContain(status => status == 401 || status == 429);
        statuses.Should().Contain(401, "the jti ledger, not only the budget, refused the others");
    }

    // The first request at B may come before B heard of the new client (the notification is asynchronous).
    private static async Task<HttpResponseMessage> RetryUntilKnownAsync(Func<Task<HttpResponseMessage>> send)
    {
        for (var attempt = 0; ; attempt++)
        {
            var response = await send();
            if (response.StatusCode == HttpStatusCode.OK || attempt >= 50)
            {
                return response;
            }

            await Task.Delay(100);
        }
    }

    private async Task<JsonElement> SignInAtAAsync(string clientId, string email, string scope)
    {
        var pkce = Pkce.Create();
        var redirect = await new BrowserFlow(cluster.A).SignInAsync(
            BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, RedirectUri, pkce, scope)), email, Password);
        using var atA = ClusterNodes.Api(cluster.A);
        return await (await atA.PostAsync("/connect/token", Form(clientId,
            ("grant_type", "authorization_code"), ("code", BrowserFlow.Query(redirect.Headers.Location!)["code"]),
            ("redirect_uri", RedirectUri), ("code_verifier", pkce.Verifier)))).ShouldSucceedAsync();
    }

    private static async Task<HttpResponseMessage> LoginAsync(Uri node, string email, string password)
    {
        var flow = new BrowserFlow(node);
        return await flow.SubmitLoginAsync(await flow.FollowAsync("/account/login"), email, password);
    }

    private static async Task<bool> IntrospectAsync(HttpClient api, string clientId, string token)
    {
        var response = await api.PostAsync("/connect/introspect", Form(clientId, ("token", token)));
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        return (await BrowserFlow.JsonAsync(response)).GetProperty("active").GetBoolean();
    }

    private static FormUrlEncodedContent Form(string clientId, params (string Key, string Value)[] fields) =>
        new(fields.Select(field => new KeyValuePair<string, string>(field.Key, field.Value))
            .Append(new("client_id", clientId)).Append(new("client_secret", Secret)));
}
