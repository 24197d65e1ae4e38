using Microsoft.AspNetCore;
using Microsoft.Extensions.Localization;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Html;

/// <summary>
/// The page a person sees when a browser-facing endpoint refuses a request that can't go back to the client: an
/// unknown client_id or an unregistered redirect_uri at the authorization endpoint (RFC 6749 §4.1.2.1 forbids
/// redirecting then), a bad post_logout_redirect_uri, a refused verification request. OpenIddict would write
/// "error:... error_description:..." as text; this says in the person's language what happened and what to do,
/// and keeps the OAuth error code for the developer. Errors that can go back to the client (a redirect_uri was
/// validated) never reach this handler: OpenIddict's redirect handlers run first and end the request.
/// </summary>
internal sealed class ErrorPages :
    IOpenIddictServerHandler<ApplyAuthorizationResponseContext>,
    IOpenIddictServerHandler<ApplyEndSessionResponseContext>,
    IOpenIddictServerHandler<ApplyEndUserVerificationResponseContext>
{
    public static OpenIddictServerHandlerDescriptor AuthorizationDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyAuthorizationResponseContext>()
            .UseSingletonHandler<ErrorPages>()
            .SetOrder(OpenIddictServerAspNetCoreHandlers.ProcessLocalErrorResponse<ApplyAuthorizationResponseContext>.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public static OpenIddictServerHandlerDescriptor EndSessionDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyEndSessionResponseContext>()
            .UseSingletonHandler<ErrorPages>()
            .SetOrder(OpenIddictServerAspNetCoreHandlers.ProcessLocalErrorResponse<ApplyEndSessionResponseContext>.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public static OpenIddictServerHandlerDescriptor VerificationDescriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ApplyEndUserVerificationResponseContext>()
            .UseSingletonHandler<ErrorPages>()
            .SetOrder(OpenIddictServerAspNetCoreHandlers.ProcessLocalErrorResponse<ApplyEndUserVerificationResponseContext>.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ApplyAuthorizationResponseContext context) =>
        string.IsNullOrEmpty(context.RedirectUri) ? RenderAsync(context, context.Transaction.Response) : ValueTask.CompletedTask;

    public ValueTask HandleAsync(ApplyEndSessionResponseContext context) =>
        string.IsNullOrEmpty(context.PostLogoutRedirectUri) ? RenderAsync(context, context.Transaction.Response) : ValueTask.CompletedTask;

    public ValueTask HandleAsync(ApplyEndUserVerificationResponseContext context) => RenderAsync(context, context.Transaction.Response);

    private static async ValueTask RenderAsync(BaseRequestContext context, OpenIddict.Abstractions.OpenIddictResponse? response)
    {
        if (response is null || string.IsNullOrEmpty(response.Error) || context.Transaction.GetHttpRequest()?.HttpContext is not { } http)
        {
            return;
        }

        await Page(http, response.Error, response.ErrorDescription).ExecuteAsync(http);
        context.HandleRequest();
    }

    /// <summary>The error page for an OAuth error code, for other pages that refuse a request the same way.</summary>
    public static IResult Page(HttpContext http, string error, string? description)
    {
        var text = http.RequestServices.GetRequiredService<IStringLocalizer<ErrorPages>>();
        var (what, todo) = error switch
        {
            Errors.InvalidClient or Errors.UnauthorizedClient => (text["UnknownClient"], text["UnknownClientTodo"]),
            Errors.InvalidRequest when description?.Contains("'client_id'", StringComparison.Ordinal) == true
                => (text["UnknownClient"], text["UnknownClientTodo"]),
            Errors.InvalidRequest when description?.Contains("redirect_uri", StringComparison.Ordinal) == true
                => (text["BadRedirect"], text["BadRedirectTodo"]),
            Errors.ServerError or Errors.TemporarilyUnavailable => (text["ServerBusy"], text["ServerBusyTodo"]),
            _ => (text["BadRequest"], text["BadRequestTodo"]),
        };

        // Note: the code is a fixed OAuth error name and the description OpenIddict's own text; both are encoded
        // anyway, and nothing of the request (client_id, redirect_uri) is shown.
        var status = error is Errors.ServerError ? StatusCodes.Status500InternalServerError
            : error is Errors.TemporarilyUnavailable ? StatusCodes.Status503ServiceUnavailable
            : StatusCodes.Status400BadRequest;
        return HtmlPage.Render(text["Title"], $"""
            <p class="error" role="alert" tabindex="-1" autofocus>{HtmlPage.Encode(what)}</p>
            <p>{HtmlPage.Encode(todo)}</p>
            <p class="developer">{HtmlPage.Encode(text["ForDevelopers"])} <code>{HtmlPage.Encode(error)}</code>{(string.IsNullOrEmpty(description) ? string.Empty : " — " + HtmlPage.Encode(description))}</p>
            """, status);
    }
}
