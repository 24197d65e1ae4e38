using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.Keys;
using OpenIddict.Abstractions;

namespace OAuthServer.IntegrationTests.Keys;

/// <summary>
/// Threat model 2.5 and auth-rs "regular key rotation simulation": a new key is published before it signs,
/// takes over at its activation instant without a restart, and the old key stays published exactly as long
/// as tokens it signed can be valid (refresh tokens included). Driven with short windows (5 s access tokens, 20 s refresh tokens, 0.2 s reloads).
/// </summary>
public sealed class KeyRotationTests
{
    [Fact]
    public async Task Rotation_publishes_the_next_key_first_switches_at_activation_and_drops_the_old_key_after_its_tokens_expire()
    {
        await using var node = await CustomServer.StartAsync(new()
        {
            ["Keys:ReloadInterval"] = "00:00:00.200",
            ["Tokens:AccessTokenLifetime"] = "00:00:05",
            ["Tokens:IdentityTokenLifetime"] = "00:00:05",
            ["Tokens:RefreshTokenLifetime"] = "00:00:20",
        });
        using var api = node.CreateApiClient();
        var keyA = (await JwksAsync(api)).Keys.Single().Kid;

        // 1. A token is signed with key A.
        var signedInA = await SignedIn.StartAsync(node);
        var tokensA = await signedInA.RedeemAsync(api);
        var tokenA = tokensA.GetProperty("access_token").GetString()!;
        new JsonWebToken(tokenA).Kid.Should().Be(keyA);

        // 2. Key B is added as "next": published at once, not used. Its activation is an hour away, so no
        //    scheduling delay on a loaded machine can make it sign early.
        var signingFolder = Path.Combine(node.KeysPath, KeyRing.SigningFolder);
        var keyB = KeyRing.Create(signingFolder, new KeyMetadata { NotBefore = DateTime.UtcNow.AddHours(1) }, DateTime.UtcNow);
        await EventuallyAsync(async () => (await JwksAsync(api)).Keys.Any(key => key.Kid == keyB), "key B is published");
        new JsonWebToken(await AccessTokenAsync(node, api)).Kid.Should().Be(keyA, "B is not used before its activation");

        // 3. B's activation is moved to two seconds from now: the node switches at that instant without a
        //    restart, and every token issued from then on carries B's kid.
        var activation = DateTime.UtcNow.AddSeconds(2);
        KeyRing.WriteSidecar(KeyFile(node, keyB), new KeyMetadata { NotBefore = activation });
        JsonWebToken? signedByB = null;
        await EventuallyAsync(async () => (signedByB = new JsonWebToken(await AccessTokenAsync(node, api))).Kid == keyB, "tokens are signed with B after its activation");
        signedByB!.IssuedAt.Should().BeOnOrAfter(activation.AddSeconds(-1), "B signs only once it is active (iat has whole seconds)");

        // 4. A token signed with A still validates through the JWKS while A is retiring, and a refresh token
        //    issued under A still refreshes (OpenIddict signs it with A inside its encryption).
        (await ValidateAsync(tokenA, await JwksAsync(api), node)).IsValid.Should().BeTrue();
        KeyRing.WriteSidecar(KeyFile(node, keyA), new KeyMetadata { RetiredAt = DateTime.UtcNow });
        await Task.Delay(1000);
        await (await api.RefreshAsync(signedInA.ClientId, tokensA.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();
        (await JwksAsync(api)).Keys.Select(key => key.Kid).Should().Contain(keyA, "a retired key stays published for the longest token lifetime");

        // 5. After A is retired and its tokens have expired, A is gone from the JWKS.
        await EventuallyAsync(async () => !(await JwksAsync(api)).Keys.Any(key => key.Kid == keyA), "key A leaves the JWKS");
        (await JwksAsync(api)).Keys.Select(key => key.Kid).Should().Equal(keyB);
    }

    [Fact]
    public async Task A_broken_key_file_is_skipped_and_a_good_key_added_beside_it_is_still_published()
    {
        await using var node = await CustomServer.StartAsync(new() { ["Keys:ReloadInterval"] = "00:00:00.200" });
        using var api = node.CreateApiClient();
        var before = (await JwksAsync(api)).Keys.Single().Kid;
        var signingFolder = Path.Combine(node.KeysPath, KeyRing.SigningFolder);

        await File.WriteAllTextAsync(Path.Combine(signingFolder, "zz-broken.pem"), "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
        var added = KeyRing.Create(signingFolder, new KeyMetadata { NotBefore = DateTime.UtcNow.AddHours(1) }, DateTime.UtcNow);

        await EventuallyAsync(async () => (await JwksAsync(api)).Keys.Any(key => key.Kid == added), "the good key next to the broken file is published");
        (await JwksAsync(api)).Keys.Select(key => key.Kid).Should().BeEquivalentTo([before, added]);
        new JsonWebToken(await AccessTokenAsync(node, api)).Kid.Should().Be(before);

        // A change that leaves no usable signing key (only the broken file and a key not active yet) is refused
        // as a whole: the last good set stays in use.
        foreach (var file in Directory.GetFiles(signingFolder).Where(file => !file.EndsWith("zz-broken.pem", StringComparison.Ordinal) && !file.Contains(Path.GetFileNameWithoutExtension(KeyFile(node, added)), StringComparison.Ordinal)))
        {
            File.Delete(file);
        }

        await Task.Delay(1000);
        (await JwksAsync(api)).Keys.Select(key => key.Kid).Should().BeEquivalentTo([before, added]);
        new JsonWebToken(await AccessTokenAsync(node, api)).Kid.Should().Be(before);
    }

    [Fact]
    public async Task At_start_up_a_broken_key_file_is_skipped_while_good_keys_load_and_stops_start_up_only_when_none_does()
    {
        await using (var node = new BrokenFileAtStart(withGoodSigningKey: true))
        {
            await ((IAsyncLifetime)node).InitializeAsync();
            using var api = node.CreateApiClient();
            (await JwksAsync(api)).Keys.Select(key => key.Kid).Should().Equal(node.GoodKid);
        }

        await using var broken = new BrokenFileAtStart(withGoodSigningKey: false);
        var failure = await FluentActions.Awaiting(() => ((IAsyncLifetime)broken).InitializeAsync()).Should().ThrowAsync<Exception>();
        failure.Which.ToString().Should().Contain("no signing key").And.Contain("signing/zz-broken.pem");
    }

    private sealed class BrokenFileAtStart(bool withGoodSigningKey) : OAuthServerFactory
    {
        public string? GoodKid { get; private set; }

        protected override void PrepareKeys(string keysPath)
        {
            var signing = Path.Combine(keysPath, KeyRing.SigningFolder);
            Directory.CreateDirectory(signing);
            File.WriteAllText(Path.Combine(signing, "zz-broken.pem"), "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
            GoodKid = withGoodSigningKey ? KeyRing.Create(signing, new KeyMetadata(), DateTime.UtcNow) : null;
            KeyRing.Create(Path.Combine(keysPath, KeyRing.EncryptionFolder), new KeyMetadata(), DateTime.UtcNow);
        }
    }

    [Fact]
    public async Task Rotation_from_RS256_to_ES256_signs_access_and_identity_tokens_with_ES256_that_validate_through_the_JWKS()
    {
        await using var node = await CustomServer.StartAsync(new() { ["Keys:ReloadInterval"] = "00:00:00.200" });
        using var api = node.CreateApiClient();
        var rsaKid = (await JwksAsync(api)).Keys.Single().Kid;
        var rsaToken = await AccessTokenAsync(node, api);
        new JsonWebToken(rsaToken).Alg.Should().Be(SecurityAlgorithms.RsaSha256);

        // An ES256 key is added and activated; from then on OpenIddict signs everything with it (it is first).
        var ecKid = KeyRing.Create(Path.Combine(node.KeysPath, KeyRing.SigningFolder), new KeyMetadata { NotBefore = DateTime.UtcNow.AddSeconds(1) }, DateTime.UtcNow, SecurityAlgorithms.EcdsaSha256);
        SignedIn? signedIn = null;
        JsonElement tokens = default;
        await EventuallyAsync(async () =>
        {
            signedIn = await SignedIn.StartAsync(node);
            tokens = await signedIn.RedeemAsync(api);
            return new JsonWebToken(tokens.GetProperty("access_token").GetString()!).Kid == ecKid;
        }, "tokens are signed with the ES256 key after its activation");

        // The JWKS publishes the EC public key, and nothing private.
        var jwksJson = await BrowserFlow.JsonAsync(await api.GetAsync("/.well-known/jwks.json"));
        var published = jwksJson.GetProperty("keys").EnumerateArray().Single(key => key.GetProperty("kid").GetString() == ecKid);
        published.GetProperty("kty").GetString().Should().Be("EC");
        published.GetProperty("crv").GetString().Should().Be("P-256");
        published.GetProperty("alg").GetString().Should().Be("ES256");
        published.GetProperty("use").GetString().Should().Be("sig");
        Base64UrlEncoder.DecodeBytes(published.GetProperty("x").GetString()).Should().HaveCount(32);
        Base64UrlEncoder.DecodeBytes(published.GetProperty("y").GetString()).Should().HaveCount(32);
        published.TryGetProperty("d", out _).Should().BeFalse("the EC private key must never be published");

        // A resource server validates the ES256 access token through the JWKS with Microsoft.IdentityModel, and a
        // client the ES256 identity token; the RS256 token from before still validates while its key is published.
        var jwks = await JwksAsync(api);
        var access = await new JsonWebTokenHandler().ValidateTokenAsync(tokens.GetProperty("access_token").GetString(), new TokenValidationParameters
        {
            ValidIssuer = node.Issuer.ToString(), ValidAudience = "api", IssuerSigningKeys = jwks.GetSigningKeys(),
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256], ValidTypes = ["at+jwt"],
        });
        access.IsValid.Should().BeTrue(access.Exception?.Message);
        ((JsonWebToken)access.SecurityToken).Kid.Should().Be(ecKid);
        var identity = await new JsonWebTokenHandler().ValidateTokenAsync(tokens.GetProperty("id_token").GetString(), new TokenValidationParameters
        {
            ValidIssuer = node.Issuer.ToString(), ValidAudience = signedIn!.ClientId, IssuerSigningKeys = jwks.GetSigningKeys(),
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
        });
        identity.IsValid.Should().BeTrue(identity.Exception?.Message);
        ((JsonWebToken)identity.SecurityToken).Kid.Should().Be(ecKid);
        (await ValidateAsync(rsaToken, jwks, node)).IsValid.Should().BeTrue("the RS256 key stays published");
        jwks.Keys.Select(key => key.Kid).Should().BeEquivalentTo([rsaKid, ecKid]);

        // Discovery lists the algorithms of the published signing keys; a refresh token made under ES256 refreshes.
        var discovery = await BrowserFlow.JsonAsync(await api.GetAsync("/.well-known/openid-configuration"));
        discovery.GetProperty("id_token_signing_alg_values_supported").EnumerateArray().Select(value => value.GetString())
            .Should().BeEquivalentTo(["RS256", "ES256"]);
        var refreshed = await (await api.RefreshAsync(signedIn.ClientId, tokens.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();
        new JsonWebToken(refreshed.GetProperty("access_token").GetString()!).Alg.Should().Be(SecurityAlgorithms.EcdsaSha256);
    }

    [Fact]
    public async Task Rotating_the_encryption_key_keeps_refresh_tokens_sealed_with_the_old_key_redeemable_until_they_expire()
    {
        await using var node = await CustomServer.StartAsync(new() { ["Keys:ReloadInterval"] = "00:00:00.200" });
        using var api = node.CreateApiClient();
        var encryptionFolder = Path.Combine(node.KeysPath, KeyRing.EncryptionFolder);
        var first = await SignedIn.StartAsync(node);
        var firstRefresh = (await first.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var second = await SignedIn.StartAsync(node);
        var secondRefresh = (await second.RedeemAsync(api)).GetProperty("refresh_token").GetString()!;
        var e1 = new KeyRing(node.KeysPath, generateMissing: false).Encryption.Single();
        (await SealedWithAsync(node, firstRefresh)).Should().Be(e1.Kid);

        // E2 becomes active: new refresh tokens are sealed with it.
        var e2 = KeyRing.Create(encryptionFolder, new KeyMetadata { NotBefore = DateTime.UtcNow }, DateTime.UtcNow);
        await EventuallyAsync(async () =>
        {
            var signedIn = await SignedIn.StartAsync(node);
            return await SealedWithAsync(node, (await signedIn.RedeemAsync(api)).GetProperty("refresh_token").GetString()!) == e2;
        }, "refresh tokens are sealed with E2");

        // A refresh token sealed with E1 still redeems, and its successor is sealed with E2.
        var refreshed = await (await api.RefreshAsync(first.ClientId, firstRefresh)).ShouldSucceedAsync();
        (await SealedWithAsync(node, refreshed.GetProperty("refresh_token").GetString()!)).Should().Be(e2);

        // E1 retired: it stays for decryption for one refresh-token lifetime, so its other tokens keep working.
        KeyRing.WriteSidecar(e1.File, new KeyMetadata { RetiredAt = DateTime.UtcNow });
        await EventuallyAsync(() => Task.FromResult(new KeyRing(node.KeysPath, generateMissing: false).Encryption.Single(entry => entry.Kid == e1.Kid).Metadata.RetiredAt is not null), "E1 is retired");
        await Task.Delay(1000);
        await (await api.RefreshAsync(second.ClientId, secondRefresh)).ShouldSucceedAsync();
    }

    // Refresh tokens are reference tokens: the JWE OpenIddict sealed is their stored payload, whose header names the
    // key: the A256KW key derived from one encryption key (Keys/ServerTokenKeys), named after it.
    private static Task<string> SealedWithAsync(OAuthServerFactory node, string referenceToken) => node.WithScopeAsync(async services =>
    {
        var manager = services.GetRequiredService<IOpenIddictTokenManager>();
        var token = await manager.FindByReferenceIdAsync(referenceToken) ?? throw new InvalidOperationException("no such refresh token");
        var kid = new JsonWebToken((await manager.GetPayloadAsync(token))!).Kid;
        kid.Should().EndWith(".a256kw", "refresh tokens are sealed with a key derived from the encryption key");
        return kid[..^".a256kw".Length];
    });

    [Fact]
    public async Task Emergency_rotation_a_deleted_compromised_key_leaves_the_JWKS_at_once_and_its_tokens_stop_validating()
    {
        await using var node = await CustomServer.StartAsync(new() { ["Keys:ReloadInterval"] = "00:00:00.200" });
        using var api = node.CreateApiClient();
        var compromised = (await JwksAsync(api)).Keys.Single().Kid;
        var stolenToken = await AccessTokenAsync(node, api);
        var signingFolder = Path.Combine(node.KeysPath, KeyRing.SigningFolder);
        var compromisedFile = Directory.GetFiles(signingFolder, "*.pem").Single();

        var replacement = KeyRing.Create(signingFolder, new KeyMetadata(), DateTime.UtcNow.AddSeconds(1));
        File.Delete(compromisedFile);

        await EventuallyAsync(async () => (await JwksAsync(api)).Keys.Select(key => key.Kid).SequenceEqual([replacement]), "only the replacement is published");
        (await ValidateAsync(stolenToken, await JwksAsync(api), node)).IsValid.Should().BeFalse("a token signed with the removed key no longer validates");
        new JsonWebToken(await AccessTokenAsync(node, api)).Kid.Should().Be(replacement).And.NotBe(compromised);
    }

    [Fact]
    public async Task X509_certificates_in_PEM_and_PFX_are_loaded_and_their_validity_decides_when_they_sign()
    {
        await using var node = await CustomServer.StartAsync(new() { ["Keys:ReloadInterval"] = "00:00:00.200" });
        using var api = node.CreateApiClient();
        var signingFolder = Path.Combine(node.KeysPath, KeyRing.SigningFolder);
        var now = DateTimeOffset.UtcNow;

        var future = Certificate(now.AddHours(1), now.AddDays(90), out var futureKid);
        await File.WriteAllTextAsync(Path.Combine(signingFolder, "future.pem"), future.ExportCertificatePem() + "\n" + future.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
        var current = Certificate(now.AddMinutes(-1), now.AddDays(90), out var currentKid);
        await File.WriteAllBytesAsync(Path.Combine(signingFolder, "current.pfx"), current.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx));

        await EventuallyAsync(async () => (await JwksAsync(api)).Keys.Count == 3, "both certificates are published");
        (await JwksAsync(api)).Keys.Select(key => key.Kid).Should().Contain([futureKid, currentKid]);
        new JsonWebToken(await AccessTokenAsync(node, api)).Kid.Should().Be(currentKid, "the valid certificate activated last signs; the future one waits");
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate(DateTimeOffset notBefore, DateTimeOffset notAfter, out string kid)
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest(
            "CN=oauthserver-test-signing", rsa, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        kid = Base64UrlEncoder.Encode(JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(rsa.ExportParameters(false))).ComputeJwkThumbprint());
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    [Fact]
    public async Task JWKS_is_cacheable_with_an_ETag_that_revalidates()
    {
        await using var node = await CustomServer.StartAsync();
        using var api = node.CreateApiClient();

        var first = await api.GetAsync("/.well-known/jwks.json");
        first.Headers.CacheControl!.Public.Should().BeTrue();
        first.Headers.CacheControl.MaxAge.Should().BePositive().And.BeLessThanOrEqualTo(JwksCaching.MaxAge);
        var etag = first.Headers.ETag!;

        using var revalidate = new HttpRequestMessage(HttpMethod.Get, "/.well-known/jwks.json");
        revalidate.Headers.IfNoneMatch.Add(etag);
        (await api.SendAsync(revalidate)).StatusCode.Should().Be(HttpStatusCode.NotModified);
    }

    [Fact]
    public async Task Two_nodes_on_one_database_and_key_folder_share_tokens_and_antiforgery()
    {
        await using var first = await CustomServer.StartAsync();
        // A cluster: one public issuer behind a load balancer, one database, one key folder.
        await using var second = await CustomServer.StartAsync(
            new() { ["Keys:Path"] = first.KeysPath, ["Server:Issuer"] = first.Issuer.ToString() }, first.ConnectionString);
        var signedIn = await SignedIn.StartAsync(first);
        using var firstApi = first.CreateApiClient();
        using var secondApi = second.CreateApiClient();
        var tokens = await signedIn.RedeemAsync(firstApi);

        // A token from node 1 validates against node 2's JWKS and refreshes at node 2.
        var jwks = new JsonWebKeySet(await secondApi.GetStringAsync("/.well-known/jwks.json"));
        var validation = await new JsonWebTokenHandler().ValidateTokenAsync(tokens.GetProperty("access_token").GetString(), new TokenValidationParameters
        {
            ValidIssuer = first.Issuer.ToString(), ValidAudience = "api", IssuerSigningKeys = jwks.GetSigningKeys(),
        });
        validation.IsValid.Should().BeTrue(validation.Exception?.Message);
        await (await secondApi.RefreshAsync(signedIn.ClientId, tokens.GetProperty("refresh_token").GetString()!)).ShouldSucceedAsync();

        // The login form served by node 1 is accepted by node 2: one Data Protection key ring in the database.
        var email = await first.CreateUserAsync();
        var flow = new BrowserFlow(first);
        var page = await flow.FollowAsync("/account/login");
        var fields = BrowserFlow.HiddenFields(await page.Content.ReadAsStringAsync());
        fields["email"] = email;
        fields["password"] = TestData.Password;
        (await flow.Browser.PostAsync(new Uri(second.Issuer, "account/login"), new FormUrlEncodedContent(fields))).StatusCode.Should().Be(HttpStatusCode.Redirect);
    }

    private static string KeyFile(OAuthServerFactory node, string kid) =>
        new KeyRing(node.KeysPath, generateMissing: false).Signing.Single(entry => entry.Kid == kid).File;

    private static async Task<JsonWebKeySet> JwksAsync(HttpClient api) => new(await api.GetStringAsync("/.well-known/jwks.json"));

    private static async Task<string> AccessTokenAsync(OAuthServerFactory node, HttpClient api)
    {
        var signedIn = await SignedIn.StartAsync(node);
        return (await signedIn.RedeemAsync(api)).GetProperty("access_token").GetString()!;
    }

    private static Task<TokenValidationResult> ValidateAsync(string token, JsonWebKeySet jwks, OAuthServerFactory node) =>
        new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = node.Issuer.ToString(), ValidAudience = "api", IssuerSigningKeys = jwks.GetSigningKeys(),
        });

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        for (var attempt = 0; attempt < 300; attempt++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException("Timed out waiting until " + what);
    }
}
