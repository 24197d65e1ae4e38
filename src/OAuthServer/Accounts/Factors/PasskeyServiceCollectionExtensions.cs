using Fido2NetLib;
using Microsoft.Extensions.Options;

namespace OAuthServer.Accounts.Factors;

internal static class PasskeyServiceCollectionExtensions
{
    /// <summary>Passkeys: the <c>Passkeys</c> settings (checked at start-up), the WebAuthn library, the ceremonies and the script.</summary>
    public static IHostApplicationBuilder AddOAuthPasskeys(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<PasskeyOptions>().BindConfiguration(PasskeyOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IPostConfigureOptions<PasskeyOptions>, PasskeyOptionsDefaults>();
        builder.Services.AddSingleton<IValidateOptions<PasskeyOptions>, PasskeyOptionsValidator>();
        builder.Services.AddSingleton<IFido2>(services =>
        {
            var options = services.GetRequiredService<IOptions<PasskeyOptions>>().Value;
            return new Fido2(new Fido2Configuration
            {
                RPID = options.RelyingPartyId!,
                RPName = options.RelyingPartyName!,
                Origins = new HashSet<string>(options.Origins.Select(origin => origin.TrimEnd('/')), StringComparer.OrdinalIgnoreCase),
                // Note: 32 bytes (WebAuthn §13.4.3 asks for at least 16); the timeout is a hint to the browser, the
                // sealed state's expiry is what is enforced.
                ChallengeSize = 32,
                Timeout = (uint)options.ChallengeLifetime.TotalMilliseconds,
                // Note: no attestation is asked for ("none"), so no metadata service is consulted.
                AllowCrossOriginRequests = false,
            }, metadataService: null!);
        });
        builder.Services.AddScoped<PasskeyCeremonies>();
        builder.Services.AddSingleton<PasskeyScript>();
        // Note: "use a passkey" on the second-factor page, for a person who has one.
        builder.Services.AddScoped<ISecondFactorMethodSection, PasskeySecondFactorSection>();
        return builder;
    }
}
