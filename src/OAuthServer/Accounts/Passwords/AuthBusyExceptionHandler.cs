using System.Globalization;
using Microsoft.AspNetCore.Diagnostics;

namespace OAuthServer.Accounts;

/// <summary>Answers an <see cref="AuthBusyException"/> with 503, <c>Retry-After</c> and the body "auth busy".</summary>
internal sealed class AuthBusyExceptionHandler : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not AuthBusyException busy)
        {
            return false;
        }

        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = Math.Ceiling(busy.RetryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        httpContext.Response.ContentType = "text/plain; charset=utf-8";
        await httpContext.Response.WriteAsync("auth busy", cancellationToken);
        return true;
    }
}
