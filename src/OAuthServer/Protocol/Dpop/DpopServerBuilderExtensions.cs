using Microsoft.Extensions.DependencyInjection.Extensions;

namespace OAuthServer.Protocol.Dpop;

/// <summary>
/// DPoP (RFC 9449) as OpenIddict server event handlers, since OpenIddict 7.8 has none. The pipeline, in order:
/// <list type="bullet">
/// <item>access-token validation: <see cref="DpopConfirmationHandlers"/> (OpenIddict checks only certificate bindings);</item>
/// <item>discovery: <see cref="DpopMetadataHandler"/> advertises the proof algorithms;</item>
/// <item>authorize and PAR: <see cref="DpopAuthorizationRequestHandler"/> checks <c>dpop_jkt</c> (and a PAR proof);</item>
/// <item>token: <see cref="DpopTokenRequestHandler"/> checks the proof and the earlier bindings,
/// <see cref="DpopTokenBindingHandler"/> writes <c>cnf.jkt</c> and the refresh token's key,
/// <see cref="DpopTokenResponseHandler"/> answers <c>token_type: DPoP</c> and the nonce;</item>
/// <item>userinfo: <see cref="DpopUserInfoHandler"/> takes the DPoP scheme and its proof;</item>
/// <item>introspection: <see cref="DpopMetadataHandler"/> returns <c>cnf</c>.</item>
/// </list>
/// </summary>
internal static class DpopServerBuilderExtensions
{
    public static OpenIddictServerBuilder AddDpop(this OpenIddictServerBuilder options)
    {
        options.Services.AddOptions<DpopOptions>().BindConfiguration(DpopOptions.Section).ValidateOnStart();
        options.Services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IValidateOptions<DpopOptions>, DpopOptionsValidator>());
        options.Services.AddSingleton<DpopNonces>();
        options.Services.AddScoped<DpopRefusals>();
        // Note: the validation stack (admin API, registration) is set up in Admin. Configure runs before its
        // post-configuration, which sorts the handlers by order, so the handler lands in its place.
        options.Services.TryAdd(DpopConfirmationHandlers.Validation.Descriptor.ServiceDescriptor);
        options.Services.Configure<OpenIddict.Validation.OpenIddictValidationOptions>(validation =>
        {
            if (!validation.Handlers.Contains(DpopConfirmationHandlers.Validation.Descriptor))
            {
                validation.Handlers.Add(DpopConfirmationHandlers.Validation.Descriptor);
            }
        });
        return options.AddEventHandler(DpopConfirmationHandlers.Server.Descriptor)
            .AddEventHandler(DpopMetadataHandler.ConfigurationDescriptor)
            .AddEventHandler(DpopMetadataHandler.IntrospectionDescriptor)
            .AddEventHandler(DpopAuthorizationRequestHandler.AuthorizeDescriptor)
            .AddEventHandler(DpopAuthorizationRequestHandler.PushedDescriptor)
            .AddEventHandler(DpopTokenRequestHandler.Descriptor)
            .AddEventHandler(DpopTokenBindingHandler.Descriptor)
            .AddEventHandler(DpopTokenResponseHandler.Descriptor)
            .AddEventHandler(DpopUserInfoHandler.ExtractDescriptor)
            .AddEventHandler(DpopUserInfoHandler.ValidateDescriptor)
            .AddEventHandler(DpopUserInfoHandler.ApplyDescriptor);
    }
}
