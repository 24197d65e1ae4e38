using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using OAuthServer.Admin;
using OAuthServer.Data;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Conformance.Dpop;

/// <summary>The requests of a DPoP client (RFC 9449), over HTTP, with the proofs the test chooses.</summary>
internal static class DpopHttp
{
    public const string Secret = "dpop-confidential-client-secret-0123456789";

    public static string TokenUrl(Uri issuer) => issuer + "connect/token";

    public static string UserInfoUrl(Uri issuer) => issuer + "connect/userinfo";

    /// <summary>A form POST to <paramref name="path"/> with one DPoP header per proof (none, one, or several).</summary>
    public static async Task<HttpResponseMessage> PostAsync(HttpClient client, string path, IDictionary<string, string> form, params string[] proofs)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) };
        foreach (var proof in proofs)
        {
            request.Headers.TryAddWithoutValidation("DPoP", proof);
        }

        return await client.SendAsync(request);
    }

    public static Dictionary<string, string> ClientCredentials(string clientId) => new()
    {
        ["grant_type"] = "client_credentials",
        ["client_id"] = clientId,
        ["client_secret"] = Secret,
        ["scope"] = "api",
    };

    public static Dictionary<string, string> Redeem(SignedIn signedIn) => new()
    {
        ["grant_type"] = "authorization_code",
        ["client_id"] = signedIn.ClientId,
        ["redirect_uri"] = signedIn.RedirectUri,
        ["code"] = signedIn.Code,
        ["code_verifier"] = signedIn.Pkce.Verifier,
    };

    public static Dictionary<string, string> Refresh(string clientId, string refreshToken, bool confidential = false)
    {
        var form = new Dictionary<string, string> { ["grant_type"] = "refresh_token", ["client_id"] = clientId, ["refresh_token"] = refreshToken };
        if (confidential)
        {
            form["client_secret"] = Secret;
        }

        return form;
    }

    /// <summary>A confidential machine client (client_credentials, scope api).</summary>
    public static Task<string> MachineClientAsync(OAuthServerFactory server, bool dpopRequired = false) => server.RegisterClientAsync(new ClientRegistration
    {
        ClientId = "dpop-m2m-" + Guid.NewGuid().ToString("N")[..12],
        Kind = ClientKind.Confidential,
        Secret = Secret,
        AllowClientCredentials = true,
        Scopes = ["api"],
        DpopBoundAccessTokens = dpopRequired,
    });

    /// <summary>A client that signs users in (code flow with refresh tokens), public or confidential.</summary>
    public static async Task<(string ClientId, string RedirectUri)> CodeClientAsync(OAuthServerFactory server, ClientKind kind = ClientKind.Public, bool dpopRequired = false)
    {
        var clientId = "dpop-" + Guid.NewGuid().ToString("N")[..12];
        var redirectUri = $"http://127.0.0.1:8123/{clientId}/callback";
        await server.RegisterClientAsync(new ClientRegistration
        {
            ClientId = clientId,
            Kind = kind,
            Secret = kind == ClientKind.Confidential ? Secret : null,
            RedirectUris = [redirectUri],
            Scopes = ["openid", "offline_access", "api"],
            ImplicitConsent = true,
            DpopBoundAccessTokens = dpopRequired,
        });
        return (clientId, redirectUri);
    }

    /// <summary>The <c>cnf.jkt</c> of an access token (a JWT), or null when it has none.</summary>
    public static string? Jkt(string accessToken)
    {
        var token = new JsonWebToken(accessToken);
        return token.TryGetPayloadValue<JsonElement>("cnf", out var cnf) && cnf.TryGetProperty("jkt", out var jkt) ? jkt.GetString() : null;
    }

    public static async Task<JsonElement> ErrorAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static Task<int> EventCountAsync(OAuthServerFactory server, string type, string clientId) =>
        server.WithScopeAsync(services => services.GetRequiredService<OAuthDbContext>().SecurityEvents.AsNoTracking()
            .CountAsync(item => item.Type == type && item.ClientId == clientId));

    public static async Task<HttpResponseMessage> UserInfoAsync(HttpClient client, string scheme, string accessToken, HttpMethod? method = null, params string[] proofs)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, "/connect/userinfo");
        if (request.Method == HttpMethod.Post)
        {
            // Note: OIDC Core section 5.3.1: a POST to userinfo is a form (empty here; the token is in the header).
            request.Content = new FormUrlEncodedContent([]);
        }

        request.Headers.Authorization = new AuthenticationHeaderValue(scheme, accessToken);
        foreach (var proof in proofs)
        {
            request.Headers.TryAddWithoutValidation("DPoP", proof);
        }

        return await client.SendAsync(request);
    }

    public static async Task<JsonElement> IntrospectAsync(HttpClient api, string clientId, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/connect/introspect")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token }),
        };
        request.Headers.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{clientId}:{Secret}")));
        var response = await api.SendAsync(request);
        return await ErrorAsync(response);
    }
}
