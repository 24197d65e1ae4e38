using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Duende.IdentityModel;
using OAuthServer.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace OAuthServer.IntegrationTests.Conformance;

/// <summary>
/// Threat model "SSRF": a jwks_uri is a URL this server fetches on a client's behalf, so outside Development one that
/// is plain http or reaches loopback, a private network or the cloud metadata service is refused: at registration
/// (admin API and RFC 7591) by what it names and what it resolves to, and again at fetch time by the address the
/// connection would actually go to.
/// </summary>
public sealed class JwksUriOutsideDevelopmentTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string BootstrapSecret = "jwks-production-bootstrap-secret-0123456789";
    private const string PublicIssuer = "https://login.example.test/";

    // A Development node makes the schema and the keys; the Production node (which never migrates nor makes keys)
    // shares both. TLS ends at a known proxy on 127.0.0.1 that says so in X-Forwarded-Proto.
    private CustomServer _setup = null!;
    private CustomServer _production = null!;

    public async Task InitializeAsync()
    {
        _setup = await CustomServer.StartAsync(new() { ["Admin:BootstrapClientSecret"] = BootstrapSecret });
        _production = await CustomServer.StartAsync(new()
        {
            ["Server:Issuer"] = PublicIssuer,
            ["Server:RequireHttps"] = "true",
            ["Server:KnownProxies:0"] = "127.0.0.1",
            ["Keys:Path"] = _setup.KeysPath,
            ["Admin:BootstrapClientSecret"] = BootstrapSecret,
            ["Admin:DynamicRegistrationEnabled"] = "true",
            ["ClientAssertions:JwksUriTimeout"] = "00:00:02",
        }, _setup.ConnectionString, environmentName: "Production");
    }

    public async Task DisposeAsync()
    {
        await _production.DisposeAsync();
        await _setup.DisposeAsync();
    }

    [Fact]
    public async Task Outside_Development_a_jwks_uri_that_is_http_or_reaches_a_private_address_is_refused_by_the_admin_API_and_RFC_7591()
    {
        using var admin = await AdminAsync();
        var refused = new List<string>
        {
            "http://keys.example.com/jwks",
            "https://127.0.0.1/jwks",
            "https://10.1.2.3/jwks",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/jwks",
            "https://localhost/jwks",
            "https://LOCALHOST:8443/jwks",
            // Spellings of the same addresses a filter on the text would miss.
            "https://0x7f000001/jwks",
            "https://2130706433/jwks",
            "https://[::ffff:169.254.169.254]/jwks",
            "https://[fd00::1]/jwks",
            "https://100.64.0.1/jwks",
            // A name that doesn't resolve can't be judged, so it is refused too.
            "https://jwks.invalid/jwks",
        };
        refused.AddRange(LoopbackNames().Select(name => $"https://{name}/jwks"));
        output.WriteLine("host names that resolve only to loopback here: " + string.Join(", ", LoopbackNames()));

        using var registrar = await RegistrarAsync(admin);
        foreach (var uri in refused)
        {
            using var viaAdmin = await admin.PostAsJsonAsync("/admin/clients", new
            {
                type = "confidential",
                grant_types = new[] { "client_credentials" },
                token_endpoint_auth_method = "private_key_jwt",
                jwks_uri = uri,
            });
            var problem = await viaAdmin.Content.ReadAsStringAsync();
            viaAdmin.StatusCode.Should().Be(HttpStatusCode.BadRequest, "the admin API must refuse {0}; it answered {1}", uri, problem);
            viaAdmin.Content.Headers.ContentType?.MediaType.Should().Be("application/problem+json");
            JsonDocument.Parse(problem).RootElement.GetProperty("errors").TryGetProperty("jwks_uri", out _).Should().BeTrue("the problem names jwks_uri for {0}: {1}", uri, problem);

            using var viaRegistration = await registrar.PostAsJsonAsync("/connect/register", new
            {
                redirect_uris = new[] { "https://app.example.test/callback" },
                token_endpoint_auth_method = "private_key_jwt",
                jwks_uri = uri,
            });
            var error = await viaRegistration.Content.ReadAsStringAsync();
            viaRegistration.StatusCode.Should().Be(HttpStatusCode.BadRequest, "RFC 7591 registration must refuse {0}; it answered {1}", uri, error);
            var body = JsonDocument.Parse(error).RootElement;
            body.GetProperty("error").GetString().Should().Be("invalid_client_metadata", "RFC 7591 §3.2.2");
            body.GetProperty("error_description").GetString().Should().Contain("jwks_uri");
        }

        // The refusals are about the address: a public one (not fetched at registration) is accepted.
        using var accepted = await admin.PostAsJsonAsync("/admin/clients", new
        {
            type = "confidential",
            grant_types = new[] { "client_credentials" },
            token_endpoint_auth_method = "private_key_jwt",
            jwks_uri = "https://1.1.1.1/jwks",
        });
        accepted.StatusCode.Should().Be(HttpStatusCode.Created, await accepted.Content.ReadAsStringAsync());
    }

    // DNS rebinding: a name that resolved to a public address when the client registered resolves to loopback when
    // the keys are fetched. Offline, no name resolves publicly, so the client is registered where that check does not
    // apply: through the Development node's own registry, on the same database (every other rule still applies).
    // The Production node then meets the name at fetch time only. The names are the ones this machine resolves to
    // loopback without being "localhost" (from /etc/hosts), so only the address check at connect time can stop them;
    // "localhost" itself is caught by the fetch's own look at the URL. A listener on the port proves that no
    // connection was even opened.
    [Fact]
    public async Task Outside_Development_a_registered_jwks_uri_whose_name_resolves_to_loopback_at_fetch_time_is_never_connected_to()
    {
        var names = LoopbackNames().Prepend("localhost").ToList();
        output.WriteLine("names tried at fetch time: " + string.Join(", ", names));
        var port = TestPorts.Free();
        using var listener = new ConnectionCounter(port);
        using var api = ProxiedClient();
        var key = ClientKey.Ec(kid: "rebound");
        foreach (var name in names)
        {
            var clientId = await _setup.RegisterClientAsync(new OAuthServer.Admin.ClientRegistration
            {
                ClientId = "rebound-" + Guid.NewGuid().ToString("N")[..12],
                Kind = OAuthServer.Admin.ClientKind.Confidential,
                AllowClientCredentials = true,
                Scopes = ["api"],
                JwksUri = $"https://{name}:{port}/jwks",
            });

            using var response = await api.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials",
                ["client_id"] = clientId,
                ["scope"] = "api",
                ["client_assertion_type"] = OidcConstants.ClientAssertionTypes.JwtBearer,
                ["client_assertion"] = key.Assertion(clientId, new Uri(PublicIssuer)),
            }));
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "{0} resolves to loopback; the body was {1}", name, body);
            var error = JsonDocument.Parse(body).RootElement;
            error.GetProperty("error").GetString().Should().Be("invalid_client");
            error.GetProperty("error_description").GetString().Should().Contain("loopback", "the refusal says why ({0})", name);
            listener.Accepted.Should().Be(0, "no connection is opened to a loopback address ({0})", name);
        }
    }

    /// <summary>
    /// Host names other than "localhost" that this machine resolves only to loopback addresses (/etc/hosts:
    /// the host's own name, ip6-localhost...): a URL can't tell they are local, only their addresses can.
    /// </summary>
    private static List<string> LoopbackNames()
    {
        if (!File.Exists("/etc/hosts"))
        {
            return [];
        }

        var names = File.ReadAllLines("/etc/hosts")
            .Select(line => line.Split('#')[0].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length > 1)
            .SelectMany(fields => fields.Skip(1))
            .Where(name => !new Uri($"https://{name}/").IsLoopback && Uri.CheckHostName(name) == UriHostNameType.Dns)
            .Distinct(StringComparer.OrdinalIgnoreCase);
        var loopback = new List<string>();
        foreach (var name in names)
        {
            try
            {
                var addresses = Dns.GetHostAddresses(name);
                if (addresses.Length > 0 && addresses.All(IPAddress.IsLoopback))
                {
                    loopback.Add(name);
                }
            }
            catch (SocketException)
            {
            }
        }

        return [.. loopback.Take(3)];
    }

    // Requests as the TLS-ending proxy forwards them.
    private HttpClient ProxiedClient()
    {
        var client = _production.CreateApiClient();
        client.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        client.DefaultRequestHeaders.Add("X-Forwarded-Host", new Uri(PublicIssuer).Host);
        return client;
    }

    private async Task<HttpClient> AdminAsync()
    {
        using var api = ProxiedClient();
        var token = await api.ClientCredentialsTokenAsync("admin-cli", BootstrapSecret, "oauth.admin", waitForClient: true);
        var admin = ProxiedClient();
        admin.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return admin;
    }

    private async Task<HttpClient> RegistrarAsync(HttpClient admin)
    {
        using var created = await admin.PostAsJsonAsync("/admin/clients", new { type = "confidential", grant_types = new[] { "client_credentials" }, scopes = new[] { "oauth.register" } });
        var registrar = await created.Content.ReadFromJsonAsync<JsonElement>();
        created.StatusCode.Should().Be(HttpStatusCode.Created, registrar.ToString());
        using var api = ProxiedClient();
        var token = await api.ClientCredentialsTokenAsync(registrar.GetProperty("client_id").GetString()!, registrar.GetProperty("client_secret").GetString()!, "oauth.register");
        var client = ProxiedClient();
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return client;
    }

    /// <summary>Listens on a loopback port (IPv4 and IPv6) and counts the connections that arrive.</summary>
    private sealed class ConnectionCounter : IDisposable
    {
        private readonly List<TcpListener> _listeners = [];
        private int _accepted;

        public ConnectionCounter(int port)
        {
            foreach (var address in new[] { IPAddress.Loopback, IPAddress.IPv6Loopback })
            {
                var listener = new TcpListener(address, port);
                try
                {
                    listener.Start();
                }
                catch (SocketException)
                {
                    // No IPv6 loopback here: nothing can connect to it either.
                    continue;
                }

                _listeners.Add(listener);
                _ = AcceptAsync(listener);
            }
        }

        public int Accepted => Volatile.Read(ref _accepted);

        private async Task AcceptAsync(TcpListener listener)
        {
            try
            {
                while (true)
                {
                    using var client = await listener.AcceptTcpClientAsync();
                    Interlocked.Increment(ref _accepted);
                }
            }
            catch (Exception exception) when (exception is SocketException or ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            foreach (var listener in _listeners)
            {
                listener.Stop();
            }
        }
    }
}
