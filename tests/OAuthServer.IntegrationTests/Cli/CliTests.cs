using Npgsql;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Cli;

/// <summary>
/// The admin verbs, run as an operator runs them: the server binary in its own process, in Production, against
/// a PostgreSQL database of the test's own, with secrets on standard input.
/// </summary>
public sealed class CliTests : IAsyncLifetime
{
    private TestDatabase? _database;

    // Note: a copy of the migrated schema, so the `migrate` each test still runs first (as an operator would) finds
    // it up to date. The tests about an empty database (the first migrate, a verb refused before it) make one of
    // their own.
    public async Task InitializeAsync() => _database = await TestDatabase.CreateMigratedAsync("oauth_cli");

    public async Task DisposeAsync()
    {
        await _database!.DisposeAsync();
    }

    [Fact]
    public async Task Migrate_then_users_add_and_clients_add_bootstrap_a_server()
    {
        // On an empty database of its own: the first migrate applies every migration.
        await using var empty = await TestDatabase.CreateAsync("oauth_cli_empty");
        var onEmpty = new Dictionary<string, string> { ["ConnectionStrings__OAuthServer"] = empty.ConnectionString };
        var migrate = await RunAsync(["migrate"], environment: onEmpty);
        migrate.ExitCode.Should().Be(0, migrate.Error);
        migrate.Output.Should().Contain("Applied");

        var again = await RunAsync(["migrate"], environment: onEmpty);
        again.ExitCode.Should().Be(0, again.Error);
        again.Output.Should().Contain("up to date");

        var user = await RunAsync(["users", "add", "--email", "ops@example.com", "--password-stdin"], "an-operator-password-42\n", onEmpty);
        user.ExitCode.Should().Be(0, user.Error);
        user.Output.Should().Contain("ops@example.com");

        var client = await RunAsync([
            "clients", "add", "--client-id", "mobile-app", "--type", "public", "--application-type", "native",
            "--redirect-uri", "com.example.app:/oauth/callback", "--redirect-uri", "http://127.0.0.1:7777/cb",
            "--scope", "openid", "--scope", "offline_access", "--scope", "api",
        ], environment: onEmpty);
        client.ExitCode.Should().Be(0, client.Error);

        var service = await RunAsync(
            ["clients", "add", "--client-id", "billing-svc", "--type", "confidential", "--client-credentials", "--scope", "api", "--secret-stdin"],
            "a-confidential-secret-of-enough-length-123\n", onEmpty);
        service.ExitCode.Should().Be(0, service.Error);

        await using var connection = new NpgsqlConnection(empty.ConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT \"ClientSecret\" FROM \"OpenIddictApplications\" WHERE \"ClientId\" = 'billing-svc'", connection);
        var storedSecret = (string?)await query.ExecuteScalarAsync();
        storedSecret.Should().NotBeNullOrEmpty().And.NotContain("a-confidential-secret", "client secrets are stored hashed");
        await using var hashQuery = new NpgsqlCommand("SELECT \"PasswordHash\" FROM users WHERE \"NormalizedEmail\" = 'ops@example.com'", connection);
        ((string?)await hashQuery.ExecuteScalarAsync()).Should().StartWith("$argon2id$v=19$m=19456,t=2,p=1$");
    }

    [Fact]
    public async Task Bad_input_prints_a_clear_error_and_exits_non_zero()
    {
        (await RunAsync(["migrate"])).ExitCode.Should().Be(0);

        var shortPassword = await RunAsync(["users", "add", "--email", "a@example.com", "--password-stdin"], "short\n");
        shortPassword.ExitCode.Should().NotBe(0);
        shortPassword.Error.Should().Contain("at least 12 characters");

        var common = await RunAsync(["users", "add", "--email", "c@example.com", "--password-stdin"], "password123456\n");
        common.ExitCode.Should().NotBe(0);
        common.Error.Should().Contain("common or breached");

        var containsEmail = await RunAsync(["users", "add", "--email", "margaret@example.com", "--password-stdin"], "hello-margaret-its-me\n");
        containsEmail.ExitCode.Should().NotBe(0);
        containsEmail.Error.Should().Contain("must not contain the email");

        var badEmail = await RunAsync(["users", "add", "--email", "not-an-email", "--password-stdin"], "long-enough-password-1\n");
        badEmail.ExitCode.Should().NotBe(0);
        badEmail.Error.Should().Contain("email");

        var wildcard = await RunAsync(["clients", "add", "--client-id", "spa", "--type", "public", "--redirect-uri", "https://*.example.com/cb"]);
        wildcard.ExitCode.Should().NotBe(0);
        wildcard.Error.Should().Contain("wildcard");

        var plainHttp = await RunAsync(["clients", "add", "--client-id", "spa", "--type", "public", "--redirect-uri", "http://app.example.com/cb"]);
        plainHttp.ExitCode.Should().NotBe(0);
        plainHttp.Error.Should().Contain("https");

        var publicWithCredentials = await RunAsync(["clients", "add", "--client-id", "spa", "--type", "public", "--client-credentials"]);
        publicWithCredentials.ExitCode.Should().NotBe(0);
        publicWithCredentials.Error.Should().Contain("confidential clients only");

        var badType = await RunAsync(["clients", "add", "--client-id", "spa", "--type", "weird", "--redirect-uri", "https://app.example.com/cb"]);
        badType.ExitCode.Should().NotBe(0);
        badType.Error.Should().Contain("weird");
    }

    [Fact]
    public async Task Users_disable_enable_unlock_and_set_password_verbs_change_the_account()
    {
        (await RunAsync(["migrate"])).ExitCode.Should().Be(0);
        (await RunAsync(["users", "add", "--email", "d@example.com", "--password-stdin"], "first-long-passphrase\n")).ExitCode.Should().Be(0);

        (await RunAsync(["users", "disable", "--email", "d@example.com"])).ExitCode.Should().Be(0);
        (await ReadAsync("SELECT \"Status\" FROM users WHERE \"NormalizedEmail\" = 'd@example.com'")).Should().Be("Disabled");
        (await RunAsync(["users", "enable", "--email", "d@example.com"])).ExitCode.Should().Be(0);
        (await ReadAsync("SELECT \"Status\" FROM users WHERE \"NormalizedEmail\" = 'd@example.com'")).Should().Be("Active");

        await using (var connection = new NpgsqlConnection(_database!.ConnectionString))
        {
            await connection.OpenAsync();
            await using var lockIt = new NpgsqlCommand("UPDATE users SET \"LockedUntil\" = now() + interval '1 hour', \"LockoutCount\" = 2", connection);
            await lockIt.ExecuteNonQueryAsync();
        }

        (await RunAsync(["users", "unlock", "--email", "d@example.com"])).ExitCode.Should().Be(0);
        (await ReadAsync("SELECT coalesce(\"LockedUntil\"::text, 'none') FROM users WHERE \"NormalizedEmail\" = 'd@example.com'")).Should().Be("none");

        var before = await ReadAsync("SELECT \"PasswordHash\" FROM users WHERE \"NormalizedEmail\" = 'd@example.com'");
        (await RunAsync(["users", "set-password", "--email", "d@example.com", "--password-stdin"], "second-long-passphrase\n")).ExitCode.Should().Be(0);
        (await ReadAsync("SELECT \"PasswordHash\" FROM users WHERE \"NormalizedEmail\" = 'd@example.com'")).Should().NotBe(before);

        var missing = await RunAsync(["users", "disable", "--email", "nobody@example.com"]);
        missing.ExitCode.Should().NotBe(0);
        missing.Error.Should().Contain("No user has the email");
    }

    [Fact]
    public async Task Argon2_calibrate_prints_parameters_at_or_above_the_minimum()
    {
        var result = await RunAsync(["argon2", "calibrate", "--target-ms", "50", "--max-memory-mib", "38"]);

        result.ExitCode.Should().Be(0, result.Error);
        var line = result.Output.Split('\n').Single(text => text.StartsWith("Argon2__MemoryKiB=", StringComparison.Ordinal));
        var memory = int.Parse(line.Split(' ')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
        var iterations = int.Parse(line.Split(' ')[1].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
        memory.Should().BeInRange(19 * 1024, 38 * 1024);
        iterations.Should().BeGreaterThanOrEqualTo(2);
    }

    // A throwaway key folder (and the environment pointing the CLI at it) for the keys verbs, deleted afterwards;
    // the database is migrated, as `keys new` and `keys retire` write their audit rows there.
    private async Task InKeyFolderAsync(Func<string, Dictionary<string, string>, Task> test)
    {
        var keys = Directory.CreateTempSubdirectory("oauth-cli-keys-").FullName;
        try
        {
            (await RunAsync(["migrate"])).ExitCode.Should().Be(0);
            await test(keys, new Dictionary<string, string> { ["Keys__Path"] = keys });
        }
        finally
        {
            Directory.Delete(keys, recursive: true);
        }
    }

    [Fact]
    public async Task Keys_new_writes_2048_bit_RSA_keys_by_default_and_larger_ones_on_request()
    {
        await InKeyFolderAsync(async (keys, environment) =>
        {
            var byDefault = await RunAsync(["keys", "new"], environment: environment);
            byDefault.ExitCode.Should().Be(0, byDefault.Error);
            byDefault.Output.Should().Contain("2048 bits");
            var larger = await RunAsync(["keys", "new", "--size", "3072", "--activate-in", "24h"], environment: environment);
            larger.ExitCode.Should().Be(0, larger.Error);
            var encryption = await RunAsync(["keys", "new", "--use", "encryption", "--size", "4096"], environment: environment);
            encryption.ExitCode.Should().Be(0, encryption.Error);

            KeySizes(Path.Combine(keys, "signing")).Should().BeEquivalentTo([2048, 3072]);
            KeySizes(Path.Combine(keys, "encryption")).Should().BeEquivalentTo([4096]);

            var tooSmall = await RunAsync(["keys", "new", "--size", "1024", "--activate-in", "24h"], environment: environment);
            tooSmall.ExitCode.Should().NotBe(0, "RFC 7518 §3.3: at least 2048 bits");
            var ecWithSize = await RunAsync(["keys", "new", "--alg", "ES256", "--size", "3072", "--activate-in", "24h"], environment: environment);
            ecWithSize.ExitCode.Should().NotBe(0);
            ecWithSize.Error.Should().Contain("--size is for RSA keys");
            KeySizes(Path.Combine(keys, "signing")).Should().HaveCount(2, "a refused key writes no file");
        });

        static IEnumerable<int> KeySizes(string folder) => Directory.GetFiles(folder, "*.pem").Select(file =>
        {
            using var rsa = System.Security.Cryptography.RSA.Create();
            rsa.ImportFromPem(File.ReadAllText(file));
            return rsa.KeySize;
        }).ToList();
    }

    [Fact]
    public async Task Keys_new_list_and_retire_drive_a_rotation_from_the_command_line()
    {
        await InKeyFolderAsync(async (keys, environment) =>
        {
            var first = await RunAsync(["keys", "new"], environment: environment);
            first.ExitCode.Should().Be(0, first.Error);
            first.Output.Should().Contain("(RS256)", "RS256 is the default");
            (await RunAsync(["keys", "new", "--use", "encryption"], environment: environment)).ExitCode.Should().Be(0);

            // The issue's own syntax; the default activation is a day away once a key is in use.
            var next = await RunAsync(["keys", "new", "--activate-in", "24h", "--lifetime", "90d"], environment: environment);
            next.ExitCode.Should().Be(0, next.Error);
            var byDefault = await RunAsync(["keys", "new", "--alg", "ES256"], environment: environment);
            byDefault.ExitCode.Should().Be(0, byDefault.Error);
            byDefault.Output.Should().Contain("(ES256)");

            var list = await RunAsync(["keys", "list"], environment: environment);
            list.ExitCode.Should().Be(0, list.Error);
            list.Output.Split('\n')[0].Should().Contain(" alg ");
            var rows = list.Output.Split('\n').Where(line => line.Contains(" signing ", StringComparison.Ordinal)).ToList();
            rows.Should().HaveCount(3);
            rows.Should().ContainSingle(line => line.Contains(" active ", StringComparison.Ordinal) && line.Contains(" RS256 ", StringComparison.Ordinal));
            rows.Where(line => line.Contains(" next ", StringComparison.Ordinal)).Should().HaveCount(2, "both new keys wait for their activation");
            rows.Should().ContainSingle(line => line.Contains(" ES256 ", StringComparison.Ordinal) && line.Contains(" next ", StringComparison.Ordinal));
            list.Output.Split('\n').Should().ContainSingle(line => line.Contains(" encryption ", StringComparison.Ordinal) && line.Contains(" RSA-OAEP ", StringComparison.Ordinal));
            var activeKid = rows.Single(line => line.Contains(" active ", StringComparison.Ordinal)).Split(' ')[0];

            var refused = await RunAsync(["keys", "retire", activeKid], environment: environment);
            refused.ExitCode.Should().NotBe(0, "the only usable signing key can't be retired before its successor is active");
            refused.Error.Should().Contain("successor");

            // Emergency path: an immediate key needs --force; without it the command says why.
            var tooSoon = await RunAsync(["keys", "new", "--activate-in", "0"], environment: environment);
            tooSoon.ExitCode.Should().NotBe(0);
            tooSoon.Error.Should().Contain("max-age").And.Contain("--force");
            (await RunAsync(["keys", "new", "--activate-in", "1m"], environment: environment)).ExitCode.Should().NotBe(0);
            var now = await RunAsync(["keys", "new", "--activate-in", "0", "--force"], environment: environment);
            now.ExitCode.Should().Be(0, now.Error);

            // Encryption keys: pre-published by default once one is in use; --force for the emergency path.
            var nextEncryption = await RunAsync(["keys", "new", "--use", "encryption"], environment: environment);
            nextEncryption.ExitCode.Should().Be(0, nextEncryption.Error);
            (await RunAsync(["keys", "new", "--use", "encryption", "--activate-in", "0"], environment: environment)).ExitCode.Should().NotBe(0);
            (await RunAsync(["keys", "new", "--use", "encryption", "--activate-in", "0", "--force"], environment: environment)).ExitCode.Should().Be(0);

            var retired = await RunAsync(["keys", "retire", activeKid], environment: environment);
            retired.ExitCode.Should().Be(0, retired.Error);
            var after = (await RunAsync(["keys", "list"], environment: environment)).Output.Split('\n');
            after.Single(line => line.StartsWith(activeKid, StringComparison.Ordinal)).Should().Contain(" retiring ");
            after.Where(line => line.Contains(" encryption ", StringComparison.Ordinal)).Select(line => line.Contains(" next ", StringComparison.Ordinal) ? "next" : "usable")
                .Should().BeEquivalentTo(["usable", "next", "usable"]);
            (await RunAsync(["keys", "retire", "no-such-kid"], environment: environment)).ExitCode.Should().NotBe(0);
        });
    }

    [Fact]
    public async Task Keys_new_refuses_bad_durations_and_EC_encryption_keys_with_a_clear_error()
    {
        await InKeyFolderAsync(async (keys, environment) =>
        {
            var badDuration = await RunAsync(["keys", "new", "--activate-in", "tomorrow"], environment: environment);
            badDuration.ExitCode.Should().NotBe(0);
            badDuration.Error.Should().Contain("24h").And.Contain("tomorrow");

            var ecEncryption = await RunAsync(["keys", "new", "--use", "encryption", "--alg", "ES256"], environment: environment);
            ecEncryption.ExitCode.Should().NotBe(0);
            ecEncryption.Error.Should().Contain("encryption keys are RSA");

            (await RunAsync(["keys", "new", "--alg", "PS256"], environment: environment)).ExitCode.Should().NotBe(0);
            Directory.Exists(Path.Combine(keys, "encryption")).Should().BeFalse("nothing was written");
        });
    }

    [Fact]
    public async Task Keys_list_and_retire_report_a_bad_key_file_and_still_work_on_the_good_keys()
    {
        await InKeyFolderAsync(async (keys, environment) =>
        {
            (await RunAsync(["keys", "new"], environment: environment)).ExitCode.Should().Be(0);
            (await RunAsync(["keys", "new", "--use", "encryption"], environment: environment)).ExitCode.Should().Be(0);
            (await RunAsync(["keys", "new", "--activate-in", "0", "--force"], environment: environment)).ExitCode.Should().Be(0);
            await File.WriteAllTextAsync(Path.Combine(keys, "signing", "half-copied.pem"), "-----BEGIN PRIVATE KEY-----\nMIIE\n");

            var list = await RunAsync(["keys", "list"], environment: environment);
            list.ExitCode.Should().NotBe(0, "a folder with a file the server skips needs attention");
            list.Error.Should().Contain("signing/half-copied.pem").And.NotContain("MIIE").And.NotContain("   at ");
            var rows = list.Output.Split('\n').Where(line => line.Contains(" signing ", StringComparison.Ordinal)).ToList();
            rows.Should().HaveCount(2, "the good keys are listed all the same");

            var retired = await RunAsync(["keys", "retire", rows[0].Split(' ')[0]], environment: environment);
            retired.ExitCode.Should().Be(0, retired.Error);
            retired.Error.Should().Contain("half-copied.pem");
        });
    }

    [Fact]
    public async Task An_unreachable_database_gives_one_clear_error_line_and_no_stack_trace()
    {
        var result = await RunAsync(["migrate"], environment: new() { ["ConnectionStrings__OAuthServer"] = "Host=127.0.0.1;Port=9;Username=x;Password=x;Database=x;Timeout=2" });

        result.ExitCode.Should().NotBe(0);
        result.Error.Should().StartWith("error: ");
        result.Error.Should().NotContain("   at ");
    }

    [Fact]
    public async Task Clients_list_rotate_secret_and_delete_are_audited_as_the_cli()
    {
        (await RunAsync(["migrate"])).ExitCode.Should().Be(0);
        var added = await RunAsync(["clients", "add", "--client-id", "reports", "--type", "confidential", "--client-credentials", "--scope", "api"]);
        added.ExitCode.Should().Be(0, added.Error);
        var generated = added.Output.Split('\n').Single(line => line.StartsWith("client_secret: ", StringComparison.Ordinal))["client_secret: ".Length..].Trim();
        generated.Should().HaveLength(43, "a generated secret is 32 random bytes in base64url");

        var web = await RunAsync(["clients", "add", "--client-id", "web-app", "--type", "public", "--redirect-uri", "com.example.app:/cb"]);
        web.ExitCode.Should().NotBe(0, "a private-use scheme is for native clients only");
        web.Error.Should().Contain("native");

        var list = await RunAsync(["clients", "list"]);
        list.Output.Should().Contain("reports\tconfidential").And.NotContain(generated);

        var rotated = await RunAsync(["clients", "rotate-secret", "--client-id", "reports"]);
        rotated.ExitCode.Should().Be(0, rotated.Error);
        rotated.Output.Should().Contain("client_secret: ").And.NotContain(generated);
        (await RunAsync(["clients", "delete", "--client-id", "reports"])).ExitCode.Should().Be(0);
        (await RunAsync(["clients", "delete", "--client-id", "reports"])).ExitCode.Should().NotBe(0, "it is gone");

        var actions = await ReadAsync("SELECT string_agg(\"Action\" || '/' || \"Actor\", ',' ORDER BY \"Id\") FROM audit_log WHERE \"TargetId\" = 'reports'");
        actions.Should().Be("client.created/cli,client.secret_rotated/cli,client.deleted/cli");
        (await ReadAsync("SELECT string_agg(\"Changes\", '') FROM audit_log")).Should().NotContain(generated);
    }

    [Fact]
    public async Task Clients_add_with_a_jwks_file_registers_a_key_client_without_a_secret_and_refuses_a_private_key_without_echoing_it()
    {
        (await RunAsync(["migrate"])).ExitCode.Should().Be(0);
        var folder = Directory.CreateTempSubdirectory("oauth-cli-jwks-").FullName;
        try
        {
            var key = Conformance.ClientKey.Ec(kid: "cli-signer-1");
            var publicFile = Path.Combine(folder, "public.json");
            await File.WriteAllTextAsync(publicFile, System.Text.Json.JsonSerializer.Serialize(key.Jwks));
            var added = await RunAsync(["clients", "add", "--client-id", "signer", "--type", "confidential", "--client-credentials", "--scope", "api", "--jwks-file", publicFile]);
            added.ExitCode.Should().Be(0, added.Error);
            added.Output.Should().Contain("Registered confidential client 'signer'").And.NotContain("client_secret", "a private_key_jwt client gets no secret");
            (await ReadAsync("SELECT coalesce(\"ClientSecret\", 'none') FROM \"OpenIddictApplications\" WHERE \"ClientId\" = 'signer'")).Should().Be("none");
            var stored = await ReadAsync("SELECT \"JsonWebKeySet\" FROM \"OpenIddictApplications\" WHERE \"ClientId\" = 'signer'");
            stored.Should().Contain("cli-signer-1").And.Contain(key.PublicJwk.GetProperty("x").GetString()!);
            (await RunAsync(["clients", "list"])).Output.Should().Contain("signer\tconfidential\tweb\tclient_credentials");
            var rotate = await RunAsync(["clients", "rotate-secret", "--client-id", "signer"]);
            rotate.ExitCode.Should().NotBe(0, "a private_key_jwt client has no secret to rotate");
            rotate.Error.Should().Contain("private_key_jwt");

            // The operator exported the key pair instead of the public key: refused, and the private part is not
            // repeated on the terminal (or in a CI log), nor stored, nor audited.
            using var ec = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var parameters = ec.ExportParameters(includePrivateParameters: true);
            var d = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(parameters.D);
            var privateFile = Path.Combine(folder, "pair.json");
            await File.WriteAllTextAsync(privateFile, System.Text.Json.JsonSerializer.Serialize(new
            {
                keys = new[]
                {
                    new
                    {
                        kty = "EC", crv = "P-256", kid = "leaked",
                        x = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(parameters.Q.X), y = Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(parameters.Q.Y), d,
                    },
                },
            }));
            var leaked = await RunAsync(["clients", "add", "--client-id", "leaky", "--type", "confidential", "--client-credentials", "--jwks-file", privateFile]);
            leaked.ExitCode.Should().NotBe(0);
            leaked.Error.Should().Contain("jwks").And.Contain("private");
            (leaked.Output + leaked.Error).Should().NotContain(d).And.NotContain(d[..16], "not even part of the private key is echoed");
            (await ReadAsync("SELECT count(*)::text FROM \"OpenIddictApplications\" WHERE \"ClientId\" = 'leaky'")).Should().Be("0");
            ((await ReadAsync("SELECT string_agg(\"Changes\", '') FROM audit_log")) ?? string.Empty).Should().NotContain(d[..16]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Users_add_without_a_password_on_stdin_refuses()
    {
        (await RunAsync(["migrate"])).ExitCode.Should().Be(0);

        var result = await RunAsync(["users", "add", "--email", "b@example.com", "--password-stdin"], string.Empty);

        result.ExitCode.Should().NotBe(0);
        result.Error.Should().Contain("standard input");
    }

    [Fact]
    public async Task Keys_new_and_retire_write_an_audit_row_and_a_security_event_without_key_material()
    {
        await InKeyFolderAsync(async (keys, environment) =>
        {
            (await RunAsync(["keys", "new"], environment: environment)).ExitCode.Should().Be(0);
            var created = await RunAsync(["keys", "new", "--alg", "ES256"], environment: environment);
            created.ExitCode.Should().Be(0, created.Error);
            var kid = created.Output.Split(' ')[3];
            var list = await RunAsync(["keys", "list"], environment: environment);
            var oldKid = list.Output.Split('\n').Single(line => line.Contains(" active ", StringComparison.Ordinal)).Split(' ')[0];
            (await RunAsync(["keys", "new", "--activate-in", "0", "--force"], environment: environment)).ExitCode.Should().Be(0);
            var retired = await RunAsync(["keys", "retire", oldKid], environment: environment);
            retired.ExitCode.Should().Be(0, retired.Error);

            (await ReadAsync("SELECT string_agg(\"Action\" || '/' || \"Actor\" || '/' || \"TargetType\", ',' ORDER BY \"Id\") FROM audit_log WHERE \"TargetId\" = '" + kid + "'"))
                .Should().Be("key.created/cli/key");
            (await ReadAsync("SELECT string_agg(\"Action\", ',' ORDER BY \"Id\") FROM audit_log WHERE \"TargetId\" = '" + oldKid + "'"))
                .Should().Be("key.created,key.retired");
            (await ReadAsync("SELECT \"Changes\" FROM audit_log WHERE \"TargetId\" = '" + kid + "'")).Should().Contain("\"alg\":\"ES256\"").And.Contain("\"use\":\"signing\"");
            (await ReadAsync("SELECT string_agg(\"Type\", ',' ORDER BY \"OccurredAt\") FROM security_events WHERE \"Data\" LIKE '%" + oldKid + "%'"))
                .Should().Be("key.created,key.retired");
            (await ReadAsync("SELECT count(*)::text FROM security_events WHERE \"Type\" = 'key.created'")).Should().Be("3");
            (await ReadAsync("SELECT \"Data\" FROM security_events WHERE \"Type\" = 'key.retired'")).Should().Contain("retired_at").And.Contain(".pem");

            // No key material in either: not the PEM, not any 16-character run of its base64 body.
            var recorded = await ReadAsync("SELECT string_agg(\"Changes\", '') FROM audit_log") + await ReadAsync("SELECT string_agg(\"Data\", '') FROM security_events");
            recorded.Should().NotContain("PRIVATE KEY");
            foreach (var pem in Directory.GetFiles(keys, "*.pem", SearchOption.AllDirectories))
            {
                var body = string.Concat((await File.ReadAllLinesAsync(pem)).Where(line => !line.StartsWith("-----", StringComparison.Ordinal)));
                Enumerable.Range(0, body.Length / 16).Select(index => body.Substring(index * 16, 16)).Should().NotContain(chunk => recorded.Contains(chunk, StringComparison.Ordinal));
            }
        });
    }

    [Fact]
    public async Task Keys_new_and_retire_change_nothing_when_the_change_cannot_be_audited()
    {
        // Not migrated: no audit_log table. A key change that can't be recorded must not happen.
        await using var empty = await TestDatabase.CreateAsync("oauth_cli_empty");
        var keys = Directory.CreateTempSubdirectory("oauth-cli-keys-").FullName;
        try
        {
            var environment = new Dictionary<string, string> { ["Keys__Path"] = keys, ["ConnectionStrings__OAuthServer"] = empty.ConnectionString };
            var refused = await RunAsync(["keys", "new"], environment: environment);
            refused.ExitCode.Should().NotBe(0);
            refused.Error.Should().Contain("nothing was changed").And.Contain("migrate").And.NotContain("   at ");
            Directory.Exists(Path.Combine(keys, "signing")).Should().BeFalse("no key file was written");

            var unreachable = new Dictionary<string, string>(environment) { ["ConnectionStrings__OAuthServer"] = "Host=127.0.0.1;Port=9;Username=x;Password=x;Database=x;Timeout=2" };
            (await RunAsync(["keys", "new", "--use", "encryption"], environment: unreachable)).ExitCode.Should().NotBe(0);
            Directory.Exists(Path.Combine(keys, "encryption")).Should().BeFalse();
        }
        finally
        {
            Directory.Delete(keys, recursive: true);
        }
    }

    [Fact]
    public async Task Keys_list_names_each_keys_file_and_the_sidecar_names_its_kid()
    {
        await InKeyFolderAsync(async (keys, environment) =>
        {
            (await RunAsync(["keys", "new"], environment: environment)).ExitCode.Should().Be(0);
            (await RunAsync(["keys", "new", "--use", "encryption"], environment: environment)).ExitCode.Should().Be(0);
            var list = await RunAsync(["keys", "list"], environment: environment);
            list.Output.Split('\n')[0].TrimEnd().Should().EndWith(" file");
            foreach (var row in list.Output.Split('\n').Skip(1).Where(line => line.Length > 0))
            {
                // The runbook's emergency step: from a kid to the file to delete.
                var kid = row.Split(' ')[0];
                var file = Path.Combine(keys, row.TrimEnd().Split(' ')[^1]);
                File.Exists(file).Should().BeTrue(row);
                (await File.ReadAllTextAsync(Path.ChangeExtension(file, ".json"))).Should().Contain($"\"kid\": \"{kid}\"");
            }

            list.Output.Split('\n').Skip(1).Count(line => line.Length > 0).Should().Be(2);
        });
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Keys_new_use_data_protection_writes_an_owner_only_certificate_each_time_for_rotation()
    {
        await InKeyFolderAsync(async (keys, environment) =>
        {
            var first = await RunAsync(["keys", "new", "--use", "data-protection"], environment: environment);
            first.ExitCode.Should().Be(0, first.Error);
            first.Output.Should().Contain("Created data-protection certificate");
            var second = await RunAsync(["keys", "new", "--use", "data-protection"], environment: environment);
            second.ExitCode.Should().Be(0, second.Error);

            var files = Directory.GetFiles(Path.Combine(keys, "data-protection"), "*.pfx");
            files.Should().HaveCount(2, "a rotation adds a certificate and keeps the one that opens the older ring keys");
            foreach (var file in files)
            {
                File.GetUnixFileMode(file).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
                using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(file, password: null);
                certificate.HasPrivateKey.Should().BeTrue();
            }
        });
    }

    [Fact]
    public async Task Cli_verbs_keep_logs_off_stdout()
    {
        // The appsettings.json default (Information): the migrator's own log lines must not reach stdout.
        await using var empty = await TestDatabase.CreateAsync("oauth_cli_empty");
        var quiet = await RunAsync(["migrate"], environment: new() { ["Logging__LogLevel__Default"] = string.Empty, ["ConnectionStrings__OAuthServer"] = empty.ConnectionString });
        quiet.ExitCode.Should().Be(0, quiet.Error);
        quiet.Output.Trim().Should().MatchRegex("^Applied [0-9]+ migration\\(s\\)\\.$");
        quiet.Error.Should().NotContain("Applying", "admin verbs log warnings and errors only by default");

        // Asked for explicitly, Information is logged, to stderr.
        var verbose = await RunAsync(["migrate"], environment: new() { ["Logging__LogLevel__Default"] = "Information", ["ConnectionStrings__OAuthServer"] = empty.ConnectionString });
        verbose.Output.Trim().Should().Be("Database is up to date.");
        verbose.Error.Should().Contain("Database schema is up to date");
    }

    [Fact]
    public async Task Clients_list_has_a_header_and_is_ordered_by_client_id()
    {
        (await RunAsync(["migrate"])).ExitCode.Should().Be(0);
        foreach (var id in new[] { "zeta", "alpha", "Mid", "beta" })
        {
            (await RunAsync(["clients", "add", "--client-id", id, "--type", "public", "--redirect-uri", "https://app.example.com/cb"])).ExitCode.Should().Be(0);
        }

        var list = await RunAsync(["clients", "list"]);
        list.ExitCode.Should().Be(0, list.Error);
        var lines = list.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines[0].Should().StartWith("client_id\ttype\t");
        lines.Skip(1).Select(line => line.Split('\t')[0]).Should().Equal("Mid", "alpha", "beta", "zeta");
    }

    [Fact]
    public async Task Users_list_shows_email_id_and_status_ordered_and_paged_never_a_hash()
    {
        (await RunAsync(["migrate"])).ExitCode.Should().Be(0);
        foreach (var email in new[] { "carol@example.com", "alice@example.com", "bob@example.com" })
        {
            (await RunAsync(["users", "add", "--email", email, "--password-stdin"], "a-long-enough-passphrase\n")).ExitCode.Should().Be(0);
        }

        (await RunAsync(["users", "disable", "--email", "bob@example.com"])).ExitCode.Should().Be(0);

        var all = await RunAsync(["users", "list"]);
        all.ExitCode.Should().Be(0, all.Error);
        var lines = all.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines[0].Should().Be("email\tid\tstatus\tlocked_until");
        lines.Skip(1).Select(line => line.Split('\t')[0]).Should().Equal("alice@example.com", "bob@example.com", "carol@example.com");
        lines[2].Split('\t')[2].Should().Be("disabled");
        Guid.TryParse(lines[1].Split('\t')[1], out _).Should().BeTrue();
        all.Output.Should().NotContain("$argon2id");

        var page = await RunAsync(["users", "list", "--limit", "2"]);
        page.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(3);
        page.Error.Should().Contain("--offset 2");
        var next = await RunAsync(["users", "list", "--limit", "2", "--offset", "2"]);
        next.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Single().Should().StartWith("carol@example.com\t");

        (await RunAsync(["users", "list", "--limit", "0"])).ExitCode.Should().NotBe(0);
        (await RunAsync(["users", "list", "--limit", "100000"])).ExitCode.Should().NotBe(0);
    }

    [Fact]
    public async Task Scopes_describe_sets_words_per_language_and_clients_add_refuses_a_plain_http_logo_outside_Development()
    {
        (await RunAsync(["migrate"])).ExitCode.Should().Be(0);
        var machine = await RunAsync(["clients", "add", "--client-id", "ledger-svc", "--type", "confidential", "--client-credentials", "--scope", "ledger"]);
        machine.ExitCode.Should().Be(0, machine.Error);

        var http = await RunAsync(["clients", "add", "--client-id", "web-app", "--type", "public", "--redirect-uri", "https://app.example/cb", "--scope", "openid", "--logo-uri", "http://cdn.example/logo.png"]);
        http.ExitCode.Should().Be(1);
        http.Error.Should().Contain("logo_uri must use https");
        var https = await RunAsync([
            "clients", "add", "--client-id", "web-app", "--type", "public", "--redirect-uri", "https://app.example/cb", "--scope", "openid",
            "--logo-uri", "https://cdn.example/logo.png", "--client-uri", "https://app.example/",
        ]);
        https.ExitCode.Should().Be(0, https.Error);
        (await ReadAsync("SELECT \"Properties\" FROM \"OpenIddictApplications\" WHERE \"ClientId\" = 'web-app'"))
            .Should().Contain("\"logo_uri\":\"https://cdn.example/logo.png\"").And.Contain("\"client_uri\":\"https://app.example/\"");

        var described = await RunAsync(["scopes", "describe", "ledger", "--display-name", "Read your ledger", "--description", "See your ledger."]);
        described.ExitCode.Should().Be(0, described.Error);
        var german = await RunAsync(["scopes", "describe", "ledger", "--display-name", "Ihr Kassenbuch lesen", "--culture", "de"]);
        german.ExitCode.Should().Be(0, german.Error);
        var list = await RunAsync(["scopes", "list"]);

        list.ExitCode.Should().Be(0, list.Error);
        list.Output.Should().Contain("ledger\tapi\tRead your ledger\tSee your ledger.\tde").And.Contain("offline_access\tstandard\tStay signed in");
        (await ReadAsync("SELECT \"DisplayNames\" FROM \"OpenIddictScopes\" WHERE \"Name\" = 'ledger'")).Should().Contain("Ihr Kassenbuch lesen");
        var standard = await RunAsync(["scopes", "describe", "offline_access", "--display-name", "Harmless"]);
        standard.ExitCode.Should().Be(1);
        standard.Error.Should().Contain("ship with the server");
        (await RunAsync(["scopes", "describe", "nothing-here", "--display-name", "x"])).ExitCode.Should().Be(1);
        (await ReadAsync("SELECT string_agg(\"Action\" || '/' || \"Actor\" || '/' || \"TargetType\", ',' ORDER BY \"Id\") FROM audit_log WHERE \"TargetId\" = 'ledger'"))
            .Should().Contain("scope.updated/cli/scope,scope.updated/cli/scope");
    }

    private async Task<string?> ReadAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_database!.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (string?)await command.ExecuteScalarAsync();
    }

    private Task<(int ExitCode, string Output, string Error)> RunAsync(string[] args, string? stdin = null, Dictionary<string, string>? environment = null)
    {
        var variables = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["Database__Provider"] = "Postgres",
            ["ConnectionStrings__OAuthServer"] = _database!.ConnectionString,
            ["Logging__LogLevel__Default"] = "Warning",
        };
        // Note: an empty value leaves the variable out (the binary's own default applies).
        foreach (var (key, value) in environment ?? [])
        {
            if (value.Length == 0)
            {
                variables.Remove(key);
            }
            else
            {
                variables[key] = value;
            }
        }

        return ServerBinary.RunAsync(args, variables, stdin);
    }
}
