namespace OAuthServer.Accounts;

internal static class ConsentServiceCollectionExtensions
{
    /// <summary>The consent page's services: scope wording, sealed consent forms and the standing grants.</summary>
    public static IServiceCollection AddOAuthConsent(this IServiceCollection services)
    {
        services.AddSingleton<ConsentTickets>();
        services.AddScoped<ScopeWording>();
        services.AddScoped<Grants>();
        return services;
    }
}
