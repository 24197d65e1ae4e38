using Microsoft.Extensions.Options;
using OAuthServer.Accounts.Factors;
using OAuthServer.Security;

namespace OAuthServer.Accounts;

internal static class AccountsServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthAccounts(this IHostApplicationBuilder builder)
    {
        BrowserSession.AddCookieScheme(builder.Services, BrowserSecurity.SecureCookiePolicy(builder));
        builder.Services.AddOptions<Argon2Options>().BindConfiguration(Argon2Options.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<Argon2Options>, Argon2OptionsValidator>();
        builder.Services.AddOptions<HashLimiterOptions>().BindConfiguration(Argon2Options.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<LockoutOptions>().BindConfiguration(LockoutOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<LockoutOptions>, LockoutOptionsValidator>();

        builder.Services.AddSingleton<PasswordHashLimiter>();
        builder.Services.AddSingleton<PepperRing>();
        builder.Services.AddSingleton<IPasswordHasher, Argon2PasswordHasher>();
        builder.Services.AddHostedService<PasswordHasherWarmUp>();
        builder.Services.AddOptions<Factors.SecondFactorOptions>().BindConfiguration(Factors.SecondFactorOptions.Section).ValidateOnStart();
        builder.Services.AddScoped<Factors.SecondFactors>();
        builder.Services.AddOAuthTotp();
        builder.Services.AddSingleton<AccountGate>();
        builder.Services.AddSingleton<DeviceCookies>();
        builder.Services.AddScoped<AdmittedUser>();
        builder.Services.AddScoped<BrowserSession>();
        builder.Services.AddScoped<UserAccounts>();
        builder.Services.AddOAuthConsent();
        builder.Services.AddScoped<SessionRecords>();
        builder.Services.AddScoped<AccountPage.Sections>();
        builder.Services.AddScoped<Data.IPruningTask, SessionRecordPruningTask>();
        builder.Services.AddExceptionHandler<AuthBusyExceptionHandler>();
        return builder;
    }
}
