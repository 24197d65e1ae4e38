using Microsoft.Extensions.Options;

namespace OAuthServer.Accounts.Factors;

internal static class TotpServiceCollectionExtensions
{
    /// <summary>The second-factor key, TOTP, recovery codes, the pending sign-in and the second-factor page's services.</summary>
    public static IServiceCollection AddOAuthTotp(this IServiceCollection services)
    {
        services.AddOptions<FactorSecretOptions>().BindConfiguration(SecondFactorOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<FactorSecretOptions>, FactorSecretOptionsValidator>();
        services.AddSingleton<FactorSecrets>();
        services.AddHostedService<FactorSecretsWarmUp>();
        services.AddScoped<TotpAuthenticators>();
        services.AddScoped<RecoveryCodes>();
        services.AddScoped<PendingSignIn>();
        services.AddScoped<SecondFactorPage.Page>();
        return services;
    }
}
