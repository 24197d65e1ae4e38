using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using OAuthServer.IntegrationTests.Admin;
using OAuthServer.IntegrationTests.Infrastructure;

namespace OAuthServer.IntegrationTests.StepUp;

/// <summary>What the step-up tests do over and over: sign in, ask again with more, read what the tokens say.</summary>
internal static class StepUpFlow
{
    public const string SecondFactorPath = "/account/login/second-factor";
    public const string Sfa = "urn:oauthserver:acr:sfa";
    public const string Mfa = "urn:oauthserver:acr:mfa";

    /// <summary>The payload of a JWT, as a resource server or a client reads it after checking the signature.</summary>
    public static JsonElement Payload(string jwt) =>
        JsonDocument.Parse(WebEncoders.Base64UrlDecode(jwt.Split('.')[1])).RootElement.Clone();

    /// <summary>
    /// One authorize request in a browser that may already hold a session: follows the server's redirects (the
    /// sign-in form included, filled in with the test password) and stops at the first redirect that leaves the
    /// server or goes to the second-factor page; returns that redirect.
    /// </summary>
    public static async Task<HttpResponseMessage> AuthorizeAsync(BrowserFlow flow, string url, string? email = null)
    {
        var response = await flow.Browser.GetAsync(url);
        for (var hop = 0; hop < 10; hop++)
        {
            if (response.StatusCode == HttpStatusCode.OK && email is not null && (await response.Content.ReadAsStringAsync()).Contains("name=\"password\"", StringComparison.Ordinal))
            {
                response = await flow.SubmitLoginAsync(response, email, TestData.Password);
                continue;
            }

            if (response.StatusCode != HttpStatusCode.Redirect || response.Headers.Location is not { } location
                || (location.IsAbsoluteUri && location.Authority != flow.Browser.BaseAddress!.Authority))
            {
                return response;
            }

            var local = location.IsAbsoluteUri ? location.PathAndQuery : location.OriginalString;
            if (local.StartsWith(SecondFactorPath, StringComparison.Ordinal))
            {
                return response;
            }

            response = await flow.Browser.GetAsync(local);
        }

        return response;
    }

    public static string Url(string clientId, string redirectUri, Pkce pkce, string scope, params (string Name, string Value)[] extra)
    {
        var parameters = BrowserFlow.AuthorizeParameters(clientId, redirectUri, pkce, scope);
        foreach (var (name, value) in extra)
        {
            parameters[name] = value;
        }

        return BrowserFlow.AuthorizeUrl(parameters);
    }

    /// <summary>Asserts the redirect goes to the second-factor page, which is to come back to an authorize request; returns that returnUrl.</summary>
    public static string ShouldAskForASecondFactor(this HttpResponseMessage response, string because)
    {
        response.StatusCode.Should().Be(HttpStatusCode.Redirect, because);
        var location = response.Headers.Location!.IsAbsoluteUri ? response.Headers.Location.PathAndQuery : response.Headers.Location.OriginalString;
        location.Should().StartWith(SecondFactorPath + "?", because);
        var returnUrl = QueryHelpers.ParseQuery(new Uri("http://x" + location).Query)["returnUrl"].ToString();
        returnUrl.Should().StartWith("/connect/authorize?", "the second-factor page comes back to the same request");
        return returnUrl;
    }

    public static Dictionary<string, string> ShouldGoBackToTheClient(this HttpResponseMessage response, string because)
    {
        response.StatusCode.Should().Be(HttpStatusCode.Redirect, because);
        response.Headers.Location!.IsAbsoluteUri.Should().BeTrue(because + ": the answer goes back to the client");
        response.Headers.Location.Port.Should().Be(8123, because + ": the answer goes back to the client");
        return BrowserFlow.Query(response.Headers.Location!);
    }

    /// <summary>A public first-party client registered through the admin API, and its redirect URI.</summary>
    public static async Task<(string ClientId, string RedirectUri)> CreateClientAsync(HttpClient admin, string[] scopes, bool requireSecondFactor = false)
    {
        var redirectUri = $"http://127.0.0.1:8123/{Guid.NewGuid():N}/cb";
        var created = await AdminServer.CreateClientAsync(admin, new
        {
            type = "public",
            redirect_uris = new[] { redirectUri },
            grant_types = new[] { "authorization_code", "refresh_token" },
            scopes,
            consent = "implicit",
            require_second_factor = requireSecondFactor,
        });
        return (created.GetProperty("client_id").GetString()!, redirectUri);
    }

    public static async Task<Guid> GrantAdministratorAsync(HttpClient admin, OAuthServerFactory server, string email)
    {
        var id = (await server.ReadUserAsync(email)).Id;
        using var granted = await admin.PostAsync($"/admin/users/{id}/administrator", null);
        granted.StatusCode.Should().Be(HttpStatusCode.NoContent, await granted.Content.ReadAsStringAsync());
        (await admin.GetFromJsonAsync<JsonElement>($"/admin/users/{id}")).GetProperty("is_administrator").GetBoolean().Should().BeTrue();
        return id;
    }
}
