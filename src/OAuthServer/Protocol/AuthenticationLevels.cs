using OAuthServer.Accounts.Factors;
using OpenIddict.Abstractions;

namespace OAuthServer.Protocol;

/// <summary>
/// The acr level a sign-in must reach before the authorization endpoint issues anything: what the request asks
/// for (<c>acr_values</c>), raised by what the client was registered with and by the operator's policy.
/// </summary>
internal static class AuthenticationLevels
{
    /// <summary>The client setting of a client registered as requiring a second factor of every user.</summary>
    public const string RequireSecondFactorSetting = "require_second_factor";

    public static bool ClientRequiresSecondFactor(IReadOnlyDictionary<string, string> settings) =>
        settings.TryGetValue(RequireSecondFactorSetting, out var value) && bool.TryParse(value, out var required) && required;

    /// <summary>
    /// The level to reach, or null when any sign-in will do. OIDC Core §3.1.2.1: acr_values is a voluntary claim, so
    /// values this server does not know are ignored (alone they ask for nothing) and the weakest known value is the
    /// one honoured; a client that must have more checks the ID token's acr. A mandatory requirement (the client's
    /// registration, the policy) is never voluntary: it raises the level to mfa whatever the request says.
    /// </summary>
    public static string? Needed(OpenIddictRequest request, bool mandatorySecondFactor)
    {
        var requested = AuthenticationMethods.WeakestKnown(request.GetAcrValues());
        if (!mandatorySecondFactor)
        {
            return requested;
        }

        return requested is not null && AuthenticationMethods.Meets(requested, AuthenticationMethods.MultiFactorLevel)
            ? requested
            : AuthenticationMethods.MultiFactorLevel;
    }
}

/// <summary>OIDC Discovery 1.0 §3: <c>acr_values_supported</c>, the ladder a client may ask for, weakest first.</summary>
internal sealed class AcrValuesMetadataHandler : OpenIddict.Server.IOpenIddictServerHandler<OpenIddict.Server.OpenIddictServerEvents.HandleConfigurationRequestContext>
{
    public static OpenIddict.Server.OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddict.Server.OpenIddictServerHandlerDescriptor.CreateBuilder<OpenIddict.Server.OpenIddictServerEvents.HandleConfigurationRequestContext>()
            .UseSingletonHandler<AcrValuesMetadataHandler>()
            .SetOrder(int.MaxValue - 100_000)
            .SetType(OpenIddict.Server.OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(OpenIddict.Server.OpenIddictServerEvents.HandleConfigurationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Metadata[OpenIddict.Abstractions.OpenIddictConstants.Metadata.AcrValuesSupported] =
            System.Text.Json.JsonSerializer.SerializeToElement(AuthenticationMethods.Levels);
        return ValueTask.CompletedTask;
    }
}
