using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace OAuthServer.Security;

/// <summary>
/// Applies the per-IP policies to the login, token and authorization endpoints, and the per-client_id budget
/// of failed client authentications to the token, introspection and revocation endpoints (so a client secret
/// can't be brute-forced). The client IP is the connection's, after the forwarded-headers middleware, which
/// believes X-Forwarded-For only from Server:KnownProxies.
/// </summary>
internal sealed class RateLimitingMiddleware(RequestDelegate next, RateLimits limits)
{
    private static readonly PathString[] ClientAuthenticatingPaths = ["/connect/token", "/connect/par", "/connect/introspect", "/connect/revoke"];

    public async Task InvokeAsync(HttpContext context)
    {
        if (!limits.Enabled)
        {
            await next(context);
            return;
        }

        var ip = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        var path = context.Request.Path;
        var ipPolicy = path.Equals("/account/login", StringComparison.OrdinalIgnoreCase) && HttpMethods.IsPost(context.Request.Method) ? RateLimits.LoginPerIp
            // Note: the back-channel endpoints share one per-IP budget.
            : ClientAuthenticatingPaths.Any(candidate => path.Equals(candidate, StringComparison.OrdinalIgnoreCase)) ? RateLimits.TokenPerIp
            : path.Equals("/connect/authorize", StringComparison.OrdinalIgnoreCase) ? RateLimits.AuthorizePerIp
            : null;
        if (ipPolicy is not null)
        {
            var decision = await limits.AcquireAsync(ipPolicy, ip, context.RequestAborted);
            if (!decision.Allowed)
            {
                await RateLimitRejection.WriteAsync(context, decision);
                return;
            }
        }

        string? clientId = null;
        if (ClientAuthenticatingPaths.Any(candidate => path.Equals(candidate, StringComparison.OrdinalIgnoreCase)))
        {
            clientId = await ClientIdAsync(context);
            if (clientId is not null)
            {
                // Note: a zero-permit peek: the budgets count failures only, so checking spends nothing. (The Redis
                // store compares count + 0 <= limit, so there one more failure gets through than in memory.)
                foreach (var (policy, key) in ClientAuthBudgets(clientId, ip))
                {
                    var decision = await limits.PeekAsync(policy, key, context.RequestAborted);
                    if (!decision.Allowed)
                    {
                        await RateLimitRejection.WriteAsync(context, decision);
                        return;
                    }
                }
            }
        }

        await next(context);

        // Note: OpenIddict answers a failed client authentication with 401 invalid_client; each one spends
        // one permit of that client_id's budget.
        if (clientId is not null && context.Response.StatusCode == StatusCodes.Status401Unauthorized)
        {
            foreach (var (policy, key) in ClientAuthBudgets(clientId, ip))
            {
                await limits.AcquireAsync(policy, key, CancellationToken.None);
            }
        }
    }

    // A guesser is stopped per client_id and IP quickly, and per client_id across all IPs at a higher ceiling.
    private static (string Policy, string Key)[] ClientAuthBudgets(string clientId, string ip) =>
        [(RateLimits.ClientAuthFailures, $"{clientId}|{ip}"), (RateLimits.ClientAuthFailuresPerClient, clientId)];

    // The client_id the request claims: from HTTP Basic credentials or the form body.
    private static async Task<string?> ClientIdAsync(HttpContext context)
    {
        if (AuthenticationHeaderValue.TryParse(context.Request.Headers.Authorization, out var header)
            && string.Equals(header.Scheme, "Basic", StringComparison.OrdinalIgnoreCase) && header.Parameter is { } parameter)
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(parameter));
                var separator = decoded.IndexOf(':', StringComparison.Ordinal);
                return separator > 0 ? Uri.UnescapeDataString(decoded[..separator]) : null;
            }
            catch (FormatException)
            {
                return null;
            }
        }

        // Note: OAuth requests are application/x-www-form-urlencoded; anything else is left for OpenIddict to refuse
        // with a 400, and a malformed body is not our 500.
        if (context.Request.ContentType?.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) == true)
        {
            try
            {
                var form = await context.Request.ReadFormAsync(context.RequestAborted);
                var clientId = form["client_id"].ToString();
                return string.IsNullOrEmpty(clientId) || clientId.Length > 200 ? null : clientId;
            }
            catch (Exception exception) when (exception is InvalidDataException or IOException or BadHttpRequestException)
            {
                return null;
            }
        }

        return null;
    }
}

/// <summary>The 429 answers: OAuth-style JSON on the protocol endpoints, a page on the login form.</summary>
internal static class RateLimitRejection
{
    public static async Task WriteAsync(HttpContext context, RateLimitDecision decision)
    {
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(decision.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        if (context.Request.Path.StartsWithSegments("/connect"))
        {
            // Note: slow_down at the token-style endpoints (RFC 8628 §3.5 gives it that meaning);
            // temporarily_unavailable at the authorization endpoint (RFC 6749 §4.1.2.1).
            var error = context.Request.Path.StartsWithSegments("/connect/authorize") ? "temporarily_unavailable" : "slow_down";
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["error"] = error,
                ["error_description"] = "Too many requests. Wait before trying again.",
            }));
            return;
        }

        await Accounts.HtmlPage.Render("Too many attempts",
            $"<p class=\"error\" role=\"alert\">Too many sign-in attempts. Please wait {context.Response.Headers.RetryAfter} seconds and try again.</p>",
            StatusCodes.Status429TooManyRequests).ExecuteAsync(context);
    }
}

internal static class RateLimitingServiceCollectionExtensions
{
    public static IHostApplicationBuilder AddOAuthRateLimiting(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RateLimitingOptions>().BindConfiguration(RateLimitingOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RateLimitingOptions>, RateLimitingOptionsValidator>();
        builder.Services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section);
        builder.Services.AddSingleton<RateLimits>();
        return builder;
    }
}
