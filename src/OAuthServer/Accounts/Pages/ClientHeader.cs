using Microsoft.AspNetCore.WebUtilities;
using OAuthServer.Admin;
using OAuthServer.Html;
using OAuthServer.Protocol;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace OAuthServer.Accounts;

/// <summary>
/// Who a page is for: the registered name, logo and home page of the client an authorize request names. Only the
/// client_id of the request is used, as a lookup key; everything shown comes from the registration, so an
/// authorize URL can't make the sign-in page name or show anything the operator didn't register (a phishing page
/// that borrows our login page would otherwise say whatever it likes).
/// </summary>
internal sealed class ClientHeader(IOpenIddictApplicationManager applications)
{
    /// <summary>The registered presentation of a client, or null.</summary>
    public sealed record Client(string ClientId, string DisplayName, string? LogoUri, string? ClientUri, IReadOnlyList<string> RedirectUris);

    /// <summary>The client of the authorize request a returnUrl goes back to; null for any other returnUrl.</summary>
    public Task<Client?> FromReturnUrlAsync(string? returnUrl, CancellationToken cancellationToken)
    {
        var safe = ReturnUrls.Safe(returnUrl);
        var mark = safe.IndexOf('?');
        if (mark <= 0 || !safe.AsSpan(0, mark).Equals(ProtocolPaths.Authorize, StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult<Client?>(null);
        }

        // Note: with PAR (RFC 9126 §4) the authorize request still carries client_id next to request_uri, and
        // OpenIddict refuses a request_uri pushed by another client, so the client_id is the key either way.
        return QueryHelpers.ParseQuery(safe[mark..]).TryGetValue(Parameters.ClientId, out var clientIds) && clientIds.Count == 1
            ? FindAsync(clientIds[0], cancellationToken)
            : Task.FromResult<Client?>(null);
    }

    public async Task<Client?> FindAsync(string? clientId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(clientId) || clientId.Length > 200)
        {
            return null;
        }

        var application = await applications.FindByClientIdAsync(clientId, cancellationToken);
        if (application is null)
        {
            return null;
        }

        var face = await ClientPresentation.ReadAsync(applications, application, cancellationToken);
        var redirectUris = await applications.GetRedirectUrisAsync(application, cancellationToken);
        return new Client(clientId, string.IsNullOrWhiteSpace(face.DisplayName) ? clientId : face.DisplayName,
            ShownUrl(face.LogoUri), ShownUrl(face.ClientUri), redirectUris);
    }

    /// <summary>
    /// The client block of a page: the registered logo, and a link to the registered home page with the given text
    /// (for example "About {name}"); empty when the client registered neither. The page names the client itself.
    /// </summary>
    public static string Html(Client client, string homeLinkText)
    {
        if (client.LogoUri is null && client.ClientUri is null)
        {
            return string.Empty;
        }

        var logo = client.LogoUri is { } logoUri ? $"<img src=\"{HtmlPage.Encode(logoUri)}\" alt=\"\">" : string.Empty;
        var home = client.ClientUri is { } clientUri
            ? $"<a href=\"{HtmlPage.Encode(clientUri)}\" rel=\"noopener noreferrer\">{HtmlPage.Encode(homeLinkText)}</a>"
            : string.Empty;
        return $"<div class=\"client\">{logo}{home}</div>";
    }

    // A registered value is still shown only as an absolute https URL (or http on loopback, for development):
    // a javascript: or data: value must never become a link or an image.
    private static string? ShownUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback))
            ? uri.AbsoluteUri
            : null;
}
