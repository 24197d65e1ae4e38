namespace OAuthServer.Accounts;

internal static class ConsentServiceCollectionExtensions
{
    /// <summary>The consent page's services: scope wording, sealed consent forms and the standing grants.</summary>
    public static IServiceCollection AddOAuthConsent(this IServiceCollection services)
    {
        // Note: the resources of the consent page; request localisation (which culture a request gets) is the
        // page shell's, and AddLocalization is idempotent.
        services.AddLocalization();
        services.AddSingleton<ConsentTickets>();
        services.AddScoped<ScopeWording>();
        services.AddScoped<Grants>();
        return services;
    }
}
