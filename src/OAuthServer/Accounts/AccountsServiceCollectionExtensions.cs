namespace OAuthServer.Accounts;

internal static class AccountsServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthAccounts(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<Argon2Options>().BindConfiguration(Argon2Options.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IPasswordHasher, Argon2PasswordHasher>();
        builder.Services.AddSingleton<AccountGate>();
        builder.Services.AddScoped<UserAccounts>();
        return builder;
    }
}
