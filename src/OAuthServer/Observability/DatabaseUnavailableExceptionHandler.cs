using System.Data.Common;
using Microsoft.AspNetCore.Diagnostics;
using OAuthServer.Protocol;

namespace OAuthServer.Observability;

/// <summary>
/// Threat model "dependency outage": while the database is unreachable, requests fail fast with 503 and
/// <c>Retry-After</c>, as an OAuth <c>temporarily_unavailable</c> error on the protocol endpoints, never as a
/// 500 or a hang. Nothing is cached across the outage, so the server recovers by itself when the database does.
/// </summary>
internal sealed partial class DatabaseUnavailableExceptionHandler(ILogger<DatabaseUnavailableExceptionHandler> logger) : IExceptionHandler
{
    private const int RetryAfterSeconds = 5;

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!IsDatabaseOutage(exception))
        {
            return false;
        }

        LogOutage(logger, httpContext.Request.Path, exception.GetType().Name);
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (OAuthErrorResponse.IsOAuthRequest(httpContext))
        {
            await OAuthErrorResponse.WriteAsync(httpContext, StatusCodes.Status503ServiceUnavailable,
                "temporarily_unavailable", "The authorization server can't reach its database. Try again shortly.");
        }
        else
        {
            httpContext.Response.ContentType = "text/plain; charset=utf-8";
            await httpContext.Response.WriteAsync("Sign-in is temporarily unavailable. Try again in a few seconds.", cancellationToken);
        }

        return true;
    }

    private static bool IsDatabaseOutage(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            // Note: only a transient database error is an outage (connection refused or cut, timeout, server
            // shutting down, deadlock). A statement the database refused (bad data) is not: answering it 503
            // would tell clients to retry a request that will never work, and hide a server bug.
            if (exception is DbException { IsTransient: true } or TimeoutException or Microsoft.EntityFrameworkCore.Storage.RetryLimitExceededException)
            {
                return true;
            }
        }

        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Database unavailable while serving {Path} ({ExceptionType}); answered 503")]
    private static partial void LogOutage(ILogger logger, PathString path, string exceptionType);
}
