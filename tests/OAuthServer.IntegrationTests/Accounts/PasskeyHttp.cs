using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>The passkey endpoints as the page script calls them: JSON posts with the page's antiforgery token in a header.</summary>
internal static class PasskeyHttp
{
    public const string TokenField = "__RequestVerificationToken";
    public const string TokenHeader = "RequestVerificationToken";

    /// <summary>The origin the browser would report: the issuer's port on localhost (the default RP id).</summary>
    public static string OriginOf(OAuthServerFactory server) => $"http://localhost:{server.Port}";

    /// <summary>The antiforgery token of a page (and the cookie that goes with it, kept by the client).</summary>
    public static async Task<string> TokenAsync(HttpClient client, string page)
    {
        var html = await (await client.GetAsync(page)).Content.ReadAsStringAsync();
        return BrowserFlow.HiddenFields(html).TryGetValue(TokenField, out var token) ? token : throw new InvalidOperationException($"{page} has no antiforgery token");
    }

    public static async Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string? token, object? body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body ?? new { }) };
        if (token is not null)
        {
            request.Headers.Add(TokenHeader, token);
        }

        return await client.SendAsync(request);
    }

    public static async Task<(JsonElement Options, string State)> BeginAsync(HttpClient client, string path, string token)
    {
        var response = await PostAsync(client, path, token, null);
        var body = await response.Content.ReadAsStringAsync();
        response.StatusCode.Should().Be(HttpStatusCode.OK, body);
        var json = JsonDocument.Parse(body).RootElement;
        return (json.GetProperty("options").Clone(), json.GetProperty("state").GetString()!);
    }

    /// <summary>Adds a passkey from the account page of a signed-in browser; returns the finishing response.</summary>
    public static async Task<HttpResponseMessage> RegisterAsync(HttpClient browser, SoftwareAuthenticator authenticator, string name = "Test key")
    {
        var token = await TokenAsync(browser, "/account");
        var (options, state) = await BeginAsync(browser, "/account/passkeys/options", token);
        return await PostAsync(browser, "/account/passkeys/register", token, new { state, name, credential = authenticator.Register(options) });
    }

    /// <summary>A username-less sign-in from the sign-in page; <paramref name="tamper"/> may change the credential before it is sent.</summary>
    public static async Task<HttpResponseMessage> SignInAsync(
        HttpClient browser, SoftwareAuthenticator authenticator, string returnUrl = "/account", Action<JsonObject>? tamper = null)
    {
        var token = await TokenAsync(browser, "/account/login");
        var (options, state) = await BeginAsync(browser, "/account/login/passkey/options", token);
        var credential = authenticator.Assert(options);
        tamper?.Invoke(credential);
        return await PostAsync(browser, "/account/login/passkey", token, new { state, returnUrl, credential });
    }

    public static async Task<string> ErrorOf(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()!;

    /// <summary>The amr of a browser's session cookie, read with the server's own cookie format.</summary>
    public static IReadOnlyList<string> MethodsOf(OAuthServerFactory server, CookieContainer cookies) =>
        MethodsOf(server, cookies.GetAllCookies().Single(cookie => cookie.Name == "oauthserver.session").Value);

    public static IReadOnlyList<string> MethodsOf(OAuthServerFactory server, string cookie)
    {
        var options = server.Services.GetRequiredService<IOptionsMonitor<CookieAuthenticationOptions>>().Get(CookieAuthenticationDefaults.AuthenticationScheme);
        var ticket = options.TicketDataFormat.Unprotect(cookie) ?? throw new InvalidOperationException("the session cookie does not open");
        return [.. ticket.Principal.FindAll("amr").Select(claim => claim.Value)];
    }
}
