using System.Text.Json;
using OpenIddict.Abstractions;

namespace OAuthServer.Admin;

/// <summary>
/// What a person is shown of a client besides its name: the RFC 7591 §2 <c>logo_uri</c> and <c>client_uri</c>, kept
/// as OpenIddict application properties of those names. Only registered values exist here (checked by
/// <see cref="ClientRules.CheckPresentation"/>); nothing an authorize request carries can change them.
/// </summary>
internal static class ClientPresentation
{
    public const string LogoUriProperty = "logo_uri";
    public const string ClientUriProperty = "client_uri";

    /// <summary>The client's name, logo and home page as registered (the name falls back to the client_id).</summary>
    public static async Task<ClientFace> ReadAsync(IOpenIddictApplicationManager applications, object application, CancellationToken cancellationToken)
    {
        var properties = await applications.GetPropertiesAsync(application, cancellationToken);
        var clientId = await applications.GetClientIdAsync(application, cancellationToken) ?? string.Empty;
        return new ClientFace(
            clientId,
            await applications.GetDisplayNameAsync(application, cancellationToken) ?? clientId,
            Read(properties, LogoUriProperty),
            Read(properties, ClientUriProperty));
    }

    public static string? Read(IReadOnlyDictionary<string, JsonElement> properties, string name) =>
        properties.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public static void Write(IDictionary<string, JsonElement> properties, string name, string? value)
    {
        if (value is null)
        {
            properties.Remove(name);
        }
        else
        {
            properties[name] = JsonSerializer.SerializeToElement(value);
        }
    }
}

/// <summary>A client as a page shows it: its display name, and its logo and home page when it registered them.</summary>
internal sealed record ClientFace(string ClientId, string DisplayName, string? LogoUri, string? ClientUri);
