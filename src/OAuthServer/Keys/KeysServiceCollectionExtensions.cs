using Microsoft.Extensions.Options;
using OpenIddict.Server;

namespace OAuthServer.Keys;

internal static class KeysServiceCollectionExtensions
{
    public const string DevelopmentKeysPath = "data/keys";

    public static IHostApplicationBuilder AddOAuthKeys(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<KeysOptions>().BindConfiguration(KeysOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<KeysOptions>, KeysOptionsValidator>();
        // Note: a bad file is skipped here, not fatal; KeyRingMonitor logs it and checks at start that keys loaded.
        builder.Services.AddSingleton(services => new KeyRing(ResolvePath(services), generateMissing: services.GetRequiredService<IHostEnvironment>().IsDevelopment()));
        builder.Services.AddSingleton<IConfigureOptions<OpenIddictServerOptions>, KeyRingConfigurator>();
        builder.Services.AddSingleton<KeyRingMonitor>();
        builder.Services.AddSingleton<IOptionsChangeTokenSource<OpenIddictServerOptions>>(services => services.GetRequiredService<KeyRingMonitor>());
        builder.Services.AddSingleton<IOptionsChangeTokenSource<OpenIddict.Validation.OpenIddictValidationOptions>, ValidationKeysChangeTokenSource>();
        builder.Services.AddHostedService(services => services.GetRequiredService<KeyRingMonitor>());
        return builder;
    }

    /// <summary>The key folder: Keys:Path, or data/keys in Development, relative to the content root.</summary>
    public static string ResolvePath(IServiceProvider services)
    {
        var environment = services.GetRequiredService<IHostEnvironment>();
        // Note: read from configuration, not the validated options: `keys new` must work on an empty folder.
        var configured = services.GetRequiredService<IConfiguration>().GetSection(KeysOptions.Section).Get<KeysOptions>()?.Path;
        var path = string.IsNullOrWhiteSpace(configured) && environment.IsDevelopment() ? DevelopmentKeysPath : configured ?? string.Empty;
        return System.IO.Path.GetFullPath(path, environment.ContentRootPath);
    }
}
