using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OAuthServer.IntegrationTests.Infrastructure;
using static OAuthServer.IntegrationTests.Conformance.Dpop.DpopHttp;

namespace OAuthServer.IntegrationTests.Conformance.Dpop;

/// <summary>
/// Server nonces (RFC 9449 §8), on for one client: a proof without a current nonce gets <c>use_dpop_nonce</c>
/// with a <c>DPoP-Nonce</c> header, every answer to that client carries a fresh one, a nonce from another
/// node of the same deployment is good, and one past its lifetime or forged is not. Other clients are untouched.
/// </summary>
public sealed class DpopNonceTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly string _nonceClient = "dpop-nonce-" + Guid.NewGuid().ToString("N")[..12];
    private CustomServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await CustomServer.StartAsync(
            new() { ["Dpop:RequireNonceForClients:0"] = _nonceClient, ["Dpop:NonceLifetime"] = "00:05:00" },
            services: services => services.AddSingleton<TimeProvider>(_clock));
        await _server.RegisterClientAsync(new OAuthServer.Admin.ClientRegistration
        {
            ClientId = _nonceClient,
            Kind = OAuthServer.Admin.ClientKind.Confidential,
            Secret = Secret,
            AllowClientCredentials = true,
            Scopes = ["api"],
        });
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_proof_without_a_current_nonce_is_answered_use_dpop_nonce_and_the_nonce_given_works()
    {
        using var key = DpopKey.Es256();
        using var api = _server.CreateApiClient();
        var url = TokenUrl(_server.Issuer);

        var first = await PostAsync(api, "/connect/token", ClientCredentials(_nonceClient), key.Proof("POST", url, issuedAt: _clock.GetUtcNow()));
        first.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await ErrorAsync(first)).GetProperty("error").GetString().Should().Be("use_dpop_nonce");
        var nonce = first.Headers.GetValues("DPoP-Nonce").Single();

        var tampered = nonce[..10] + (nonce[10] == 'A' ? 'B' : 'A') + nonce[11..];
        var forged = await PostAsync(api, "/connect/token", ClientCredentials(_nonceClient), key.Proof("POST", url, nonce: tampered, issuedAt: _clock.GetUtcNow()));
        (await ErrorAsync(forged)).GetProperty("error").GetString().Should().Be("use_dpop_nonce");

        var second = await PostAsync(api, "/connect/token", ClientCredentials(_nonceClient), key.Proof("POST", url, nonce: nonce, issuedAt: _clock.GetUtcNow()));
        (await second.ShouldSucceedAsync()).GetProperty("token_type").GetString().Should().Be("DPoP");
        second.Headers.GetValues("DPoP-Nonce").Single().Should().NotBeNullOrEmpty("every answer gives the client a fresh nonce");

        // Past its lifetime the nonce is stale, whatever the proof.
        _clock.Advance(TimeSpan.FromMinutes(6));
        var stale = await PostAsync(api, "/connect/token", ClientCredentials(_nonceClient), key.Proof("POST", url, nonce: nonce, issuedAt: _clock.GetUtcNow()));
        stale.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await ErrorAsync(stale)).GetProperty("error").GetString().Should().Be("use_dpop_nonce");
    }

    [Fact]
    public async Task A_nonce_given_by_one_node_is_good_at_another_node_of_the_deployment()
    {
        await using var other = await CustomServer.StartAsync(
            new() { ["Dpop:RequireNonceForClients:0"] = _nonceClient }, sharedConnectionString: _server.ConnectionString,
            services: services => services.AddSingleton<TimeProvider>(_clock));
        using var key = DpopKey.Es256();
        using var atFirst = _server.CreateApiClient();
        using var atOther = other.CreateApiClient();

        var refused = await PostAsync(atFirst, "/connect/token", ClientCredentials(_nonceClient), key.Proof("POST", TokenUrl(_server.Issuer), issuedAt: _clock.GetUtcNow()));
        var nonce = refused.Headers.GetValues("DPoP-Nonce").Single();

        await (await PostAsync(atOther, "/connect/token", ClientCredentials(_nonceClient),
            key.Proof("POST", TokenUrl(other.Issuer), nonce: nonce, issuedAt: _clock.GetUtcNow()))).ShouldSucceedAsync();
    }

    [Fact]
    public async Task Clients_without_the_nonce_requirement_need_no_nonce_and_get_none()
    {
        using var key = DpopKey.Es256();
        var clientId = await MachineClientAsync(_server);
        using var api = _server.CreateApiClient();

        var response = await PostAsync(api, "/connect/token", ClientCredentials(clientId), key.Proof("POST", TokenUrl(_server.Issuer), issuedAt: _clock.GetUtcNow()));

        await response.ShouldSucceedAsync();
        response.Headers.Contains("DPoP-Nonce").Should().BeFalse();
    }
}
