using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Localization;
using Microsoft.AspNetCore.WebUtilities;
using OAuthServer.Accounts;
using OAuthServer.Protocol;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Html;

/// <summary>
/// Which language a page speaks: the authorize request's <c>ui_locales</c> first (OIDC Core §3.1.2.1), also when
/// it sits inside a page's returnUrl, so the sign-in and consent pages follow the request that sent the person
/// there; then the browser's Accept-Language; then English.
/// </summary>
internal static class Localisation
{
    public const string DefaultCulture = "en";

    /// <summary>The languages every page has resources for, in the order discovery lists them.</summary>
    public static readonly string[] SupportedCultures = [DefaultCulture, "de"];

    public static IHostApplicationBuilder AddOAuthPages(this IHostApplicationBuilder builder)
    {
        builder.Services.AddLocalization();
        builder.Services.AddOptions<BrandingOptions>().BindConfiguration(BrandingOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<BrandingOptions>, BrandingOptionsValidator>();
        builder.Services.AddSingleton<SiteAssets>();
        builder.Services.AddScoped<ClientHeader>();
        builder.Services.Configure<RequestLocalizationOptions>(options =>
        {
            var cultures = SupportedCultures.Select(CultureInfo.GetCultureInfo).ToList();
            options.DefaultRequestCulture = new RequestCulture(DefaultCulture);
            options.SupportedCultures = cultures;
            options.SupportedUICultures = cultures;
            options.FallBackToParentCultures = true;
            options.FallBackToParentUICultures = true;
            options.ApplyCurrentCultureToResponseHeaders = false;
            options.RequestCultureProviders =
            [
                new UiLocalesCultureProvider(),
                new AcceptLanguageHeaderRequestCultureProvider { MaximumAcceptLanguageHeaderValuesToTry = 5 },
            ];
        });
        builder.Services.AddOpenIddict().AddServer(options => options
            .AddEventHandler(UiLocalesMetadataHandler.Descriptor)
            .AddEventHandler(ErrorPages.AuthorizationDescriptor)
            .AddEventHandler(ErrorPages.EndSessionDescriptor)
            .AddEventHandler(ErrorPages.VerificationDescriptor));
        return builder;
    }

    /// <summary>Sets the request's culture; before anything that may answer with a page (the rate limiter, OpenIddict).</summary>
    public static IApplicationBuilder UseOAuthLocalisation(this IApplicationBuilder app) => app.UseRequestLocalization();

    /// <summary>
    /// A page's own form posts keep a language the request asked for with ui_locales: it rides on the form's
    /// action URL. (A language from Accept-Language comes again with the post by itself.)
    /// </summary>
    public static string WithLanguage(HttpContext context, string path) =>
        context.Features.Get<IRequestCultureFeature>()?.Provider is UiLocalesCultureProvider
            ? QueryHelpers.AddQueryString(path, UiLocalesCultureProvider.Parameter, HtmlPage.Language())
            : path;

    /// <summary>
    /// <c>ui_locales</c> from the query, or from the authorize request inside the query's returnUrl. Read from the
    /// query only: the form is read later, by the endpoint, under the input checks.
    /// </summary>
    internal sealed class UiLocalesCultureProvider : RequestCultureProvider
    {
        public const string Parameter = "ui_locales";
        private const int MaxTags = 5;

        public override Task<ProviderCultureResult?> DetermineProviderCultureResult(HttpContext httpContext)
        {
            var query = httpContext.Request.Query;
            string? value = query[Parameter];
            if (string.IsNullOrEmpty(value) && query["returnUrl"] is { Count: 1 } returnUrl
                && ReturnUrls.Safe(returnUrl) is { } safe && safe.IndexOf('?') is var mark and > 0
                && safe.AsSpan(0, mark).Equals(ProtocolPaths.Authorize, StringComparison.OrdinalIgnoreCase))
            {
                value = QueryHelpers.ParseQuery(safe[mark..]).TryGetValue(Parameter, out var nested) ? nested.ToString() : null;
            }

            if (string.IsNullOrEmpty(value) || value.Length > 200)
            {
                return NullProviderCultureResult;
            }

            // A space-separated preference list (BCP 47 tags); the middleware takes the first one we support.
            var tags = value.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(tag => tag.Length <= 35 && tag.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
                .Take(MaxTags)
                .Select(tag => new Microsoft.Extensions.Primitives.StringSegment(tag))
                .ToList();
            return tags.Count == 0 ? NullProviderCultureResult : Task.FromResult<ProviderCultureResult?>(new ProviderCultureResult(tags));
        }
    }

    /// <summary><c>ui_locales_supported</c> in discovery (OIDC Discovery 1.0 §3).</summary>
    internal sealed class UiLocalesMetadataHandler : IOpenIddictServerHandler<HandleConfigurationRequestContext>
    {
        public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
            OpenIddictServerHandlerDescriptor.CreateBuilder<HandleConfigurationRequestContext>()
                .UseSingletonHandler<UiLocalesMetadataHandler>()
                .SetOrder(int.MaxValue - 100_000)
                .SetType(OpenIddictServerHandlerType.Custom)
                .Build();

        public ValueTask HandleAsync(HandleConfigurationRequestContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            context.Metadata["ui_locales_supported"] = JsonSerializer.SerializeToElement(SupportedCultures);
            return ValueTask.CompletedTask;
        }
    }
}
