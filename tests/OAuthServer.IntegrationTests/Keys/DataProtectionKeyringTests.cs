using System.Collections.Concurrent;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Keys;

/// <summary>
/// Threat model "DB compromise": the Data Protection key ring (which seals session and antiforgery cookies) is in the
/// database, encrypted with a certificate from the key folder. The attack: take the key ring from a copy of the
/// database, and a user's id and security stamp, and forge that user's session cookie.
/// </summary>
public sealed class DataProtectionKeyringTests
{
    private const string SessionCookie = "oauthserver.session";

    [Fact]
    public async Task A_copy_of_the_database_alone_can_not_forge_a_session_cookie()
    {
        await using var node = await CustomServer.StartAsync();
        var email = await node.CreateUserAsync();
        var (clientId, redirectUri) = await node.CreatePublicClientAsync();
        var authorize = BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create()));
        // A real sign-in, so the ring's key exists and is in use.
        (await new BrowserFlow(node).SignInAsync(authorize, email, TestData.Password)).Headers.Location!.ToString().Should().StartWith(redirectUri);

        // What a thief reads from the database: every key element, and the victim's id and stamp.
        var keys = await QueryAsync(node.ConnectionString, "SELECT \"Xml\" FROM \"DataProtectionKeys\"");
        var user = (await QueryAsync(node.ConnectionString, UserAndSessionQuery(email))).Single().Split(' ');
        keys.Should().NotBeEmpty();
        foreach (var xml in keys.Where(xml => xml.StartsWith("<key", StringComparison.Ordinal)))
        {
            xml.Should().NotContain("<masterKey", "the key material must not be in the database in plaintext");
            xml.Should().Contain("<encryptedSecret").And.Contain("EncryptedXmlDecryptor").And.Contain("<X509Certificate>");
        }

        // Without the certificate: the ring can't be read, so nothing made from it gets the thief in.
        var forged = TryForge(keys, user[0], email, user[1], user[2], certificate: null);
        if (forged is not null)
        {
            var refused = await AuthorizeWithCookieAsync(node, authorize, forged);
            refused.Headers.Location!.AbsolutePath.Should().Be("/account/login", "a cookie from a key the server doesn't hold is no session");
        }

        // Control: the same forgery with the certificate from the key folder works, so the refusal above is the
        // certificate's doing, not a mistake in the forgery.
        var certificateFile = Path.Combine(node.KeysPath, "data-protection", "data-protection.pfx");
        using var certificate = X509CertificateLoader.LoadPkcs12FromFile(certificateFile, password: null);
        var genuine = TryForge(keys, user[0], email, user[1], user[2], certificate);
        genuine.Should().NotBeNull();
        var accepted = await AuthorizeWithCookieAsync(node, authorize, genuine!);
        accepted.Headers.Location!.ToString().Should().StartWith(redirectUri, "with the certificate the key ring opens: it is the one secret outside the database");
    }

    [Fact]
    public async Task A_plaintext_key_left_in_the_database_by_an_older_release_opens_no_session()
    {
        await using var first = await CustomServer.StartAsync();
        var email = await first.CreateUserAsync();
        var (clientId, redirectUri) = await first.CreatePublicClientAsync();
        var authorize = BrowserFlow.AuthorizeUrl(BrowserFlow.AuthorizeParameters(clientId, redirectUri, Pkce.Create()));
        // A real sign-in, so the forgery can name a live session record (the thief reads it from the copy too).
        (await new BrowserFlow(first).SignInAsync(authorize, email, TestData.Password)).Headers.Location!.ToString().Should().StartWith(redirectUri);
        var user = (await QueryAsync(first.ConnectionString, UserAndSessionQuery(email))).Single().Split(' ');

        // The attack: a ring key stored unencrypted (as a release without the certificate did) is readable from any
        // copy of the database, so whoever holds the copy can seal a cookie with it.
        var (plaintextKey, forged) = ForgeWithNewPlaintextKey(user[0], email, user[1], user[2]);
        plaintextKey.Should().Contain("<masterKey");
        await using (var connection = new NpgsqlConnection(first.ConnectionString))
        {
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand("INSERT INTO \"DataProtectionKeys\" (\"FriendlyName\", \"Xml\") VALUES ('upgraded', @xml)", connection);
            insert.Parameters.AddWithValue("xml", plaintextKey);
            await insert.ExecuteNonQueryAsync();
        }

        // A node that starts on that database (with the deployment's certificate) loads the ring afresh.
        await using var upgraded = await CustomServer.StartAsync(new() { ["Keys:Path"] = first.KeysPath }, sharedConnectionString: first.ConnectionString);
        var refused = await AuthorizeWithCookieAsync(upgraded, authorize, forged);
        refused.Headers.Location!.AbsolutePath.Should().Be("/account/login", "a key that was ever in the database in plaintext must seal no session");

        // The node still works: a real sign-in is sealed with an encrypted key.
        (await new BrowserFlow(upgraded).SignInAsync(authorize, email, TestData.Password)).Headers.Location!.ToString().Should().StartWith(redirectUri);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Database_key_and_certificate_files_are_created_owner_only()
    {
        var folder = Directory.CreateTempSubdirectory("oauth-modes-").FullName;
        var lines = new ConcurrentQueue<string>();
        var port = TestPorts.Free();
        var baseUri = new Uri($"http://127.0.0.1:{port}/");
        // Note: folders that don't exist yet, so the server creates each one (data/ and keys/ under a folder of ours).
        var database = Path.Combine(folder, "data", "oauth.db");
        var keysPath = Path.Combine(folder, "keys");
        using var server = await ServerBinary.ServeAsync(baseUri, new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_URLS"] = baseUri.ToString().TrimEnd('/'),
            ["Server__Issuer"] = baseUri.ToString(),
            ["Database__Provider"] = "Sqlite",
            ["ConnectionStrings__OAuthServer"] = $"Data Source={database}",
            ["Keys__Path"] = keysPath,
        }, lines);
        try
        {
            // A sign-in page makes the ring write its first key.
            using var http = new HttpClient { BaseAddress = baseUri };
            (await http.GetAsync("/account/login")).StatusCode.Should().Be(HttpStatusCode.OK);

            const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            const UnixFileMode OwnerOnlyFolder = OwnerOnlyFile | UnixFileMode.UserExecute;
            File.GetUnixFileMode(Path.Combine(folder, "data")).Should().Be(OwnerOnlyFolder);
            foreach (var file in Directory.GetFiles(Path.Combine(folder, "data"), "oauth.db*"))
            {
                File.GetUnixFileMode(file).Should().Be(OwnerOnlyFile, file + " holds password hashes and the key ring");
            }

            File.GetUnixFileMode(keysPath).Should().Be(OwnerOnlyFolder);
            File.GetUnixFileMode(Path.Combine(keysPath, "signing")).Should().Be(OwnerOnlyFolder, "the folder of the private signing keys");
            File.GetUnixFileMode(Path.Combine(keysPath, "encryption")).Should().Be(OwnerOnlyFolder);
            File.GetUnixFileMode(Path.Combine(keysPath, "data-protection")).Should().Be(OwnerOnlyFolder);
            File.GetUnixFileMode(Path.Combine(keysPath, "data-protection", "data-protection.pfx")).Should().Be(OwnerOnlyFile);
            string.Join("\n", lines).Should().NotContain("No XML encryptor configured");
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Production_refuses_to_start_without_the_certificate_and_names_it()
    {
        var folder = Directory.CreateTempSubdirectory("oauth-nocert-").FullName;
        try
        {
            var keysPath = Path.Combine(folder, "keys");
            WriteKey(Path.Combine(keysPath, "signing"));
            WriteKey(Path.Combine(keysPath, "encryption"));
            var environment = new Dictionary<string, string>
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["DOTNET_ENVIRONMENT"] = "Production",
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{TestPorts.Free()}",
                ["Server__Issuer"] = "https://login.example.test/",
                ["Server__RequireHttps"] = "true",
                ["Server__KnownProxies__0"] = "127.0.0.1",
                ["Database__Provider"] = "Sqlite",
                ["ConnectionStrings__OAuthServer"] = $"Data Source={Path.Combine(folder, "oauth.db")}",
                ["Keys__Path"] = keysPath,
            };

            var refused = await ServerBinary.RunAsync([], environment);

            refused.ExitCode.Should().NotBe(0);
            (refused.Output + refused.Error).Should().Contain("no Data Protection certificate in " + Path.Combine(keysPath, "data-protection"));

            // Control: the same settings with the certificate (created on this first start, as the runbook allows)
            // start: nothing else was missing.
            environment["DataProtection__CreateCertificateIfMissing"] = "true";
            await using (await ServerProcess.StartAsync(new Uri($"http://127.0.0.1:{TestPorts.Free()}/"), environment))
            {
                File.GetUnixFileMode(Path.Combine(keysPath, "data-protection", "data-protection.pfx")).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// Builds the session cookie the server's cookie handler would issue, from the key elements alone (and the
    /// certificate, when given): Data Protection with the server's application name, and the cookie handler's purpose.
    /// Returns null when the ring can't be opened at all.
    /// </summary>
    private static string? TryForge(IReadOnlyList<string> keyElements, string userId, string email, string stamp, string sessionId, X509Certificate2? certificate)
    {
        var ring = Directory.CreateTempSubdirectory("oauth-forge-");
        try
        {
            foreach (var xml in keyElements)
            {
                File.WriteAllText(Path.Combine(ring.FullName, $"key-{Guid.NewGuid()}.xml"), xml);
            }

            var services = new ServiceCollection();
            var dataProtection = services.AddDataProtection().PersistKeysToFileSystem(ring).SetApplicationName("OAuthServer").DisableAutomaticKeyGeneration();
            if (certificate is not null)
            {
                dataProtection.UnprotectKeysWithAnyCertificate(certificate);
            }

            using var provider = services.BuildServiceProvider();
            try
            {
                return Forge(provider.GetRequiredService<IDataProtectionProvider>(), userId, email, stamp, sessionId);
            }
            catch (Exception exception) when (exception is CryptographicException or InvalidOperationException)
            {
                // No key of the ring can be decrypted, and the forger can't make one the server would hold.
                return null;
            }
        }
        finally
        {
            ring.Delete(recursive: true);
        }
    }

    /// <summary>A fresh unencrypted ring key (its XML) and a session cookie sealed with it.</summary>
    private static (string KeyXml, string Cookie) ForgeWithNewPlaintextKey(string userId, string email, string stamp, string sessionId)
    {
        var ring = Directory.CreateTempSubdirectory("oauth-plain-");
        try
        {
            var services = new ServiceCollection();
            services.AddDataProtection().PersistKeysToFileSystem(ring).SetApplicationName("OAuthServer");
            string cookie;
            using (var provider = services.BuildServiceProvider())
            {
                cookie = Forge(provider.GetRequiredService<IDataProtectionProvider>(), userId, email, stamp, sessionId);
            }

            return (File.ReadAllText(ring.GetFiles("key-*.xml").Single().FullName), cookie);
        }
        finally
        {
            ring.Delete(recursive: true);
        }
    }

    /// <summary>The server's session cookie for a user: the cookie handler's purpose strings and ticket format.</summary>
    private static string Forge(IDataProtectionProvider dataProtection, string userId, string email, string stamp, string sessionId)
    {
        var protector = dataProtection.CreateProtector(
            "Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationMiddleware", CookieAuthenticationDefaults.AuthenticationScheme, "v2");
        var identity = new ClaimsIdentity(CookieAuthenticationDefaults.AuthenticationScheme, "name", "role");
        identity.AddClaim(new Claim("sub", userId));
        identity.AddClaim(new Claim("name", email));
        identity.AddClaim(new Claim("oauthserver_stamp", stamp));
        identity.AddClaim(new Claim("oauthserver_sid", sessionId));
        var properties = new AuthenticationProperties { IssuedUtc = DateTimeOffset.UtcNow, ExpiresUtc = DateTimeOffset.UtcNow.AddHours(1) };
        var ticket = new AuthenticationTicket(new ClaimsPrincipal(identity), properties, CookieAuthenticationDefaults.AuthenticationScheme);
        return new TicketDataFormat(protector).Protect(ticket);
    }

    // The victim's id, security stamp and newest live session record: all of it is in a copy of the database.
    private static string UserAndSessionQuery(string email) =>
        $"SELECT u.\"Id\"::text || ' ' || u.\"SecurityStamp\" || ' ' || s.\"Id\"::text FROM users u JOIN browser_sessions s ON s.\"UserId\" = u.\"Id\" "
        + $"WHERE u.\"Email\" = '{email}' AND s.\"EndedAt\" IS NULL ORDER BY s.\"CreatedAt\" DESC LIMIT 1";

    private static async Task<HttpResponseMessage> AuthorizeWithCookieAsync(OAuthServerFactory node, string authorize, string cookie)
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = node.Issuer };
        using var request = new HttpRequestMessage(HttpMethod.Get, authorize);
        request.Headers.Add("Cookie", $"{SessionCookie}={cookie}");
        var response = await http.SendAsync(request);
        response.StatusCode.Should().Be(HttpStatusCode.Redirect);
        return response;
    }

    private static async Task<List<string>> QueryAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    private static void WriteKey(string folder)
    {
        Directory.CreateDirectory(folder);
        using var rsa = RSA.Create(3072);
        File.WriteAllText(Path.Combine(folder, "key.pem"), rsa.ExportPkcs8PrivateKeyPem());
    }
}
