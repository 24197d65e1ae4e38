namespace OAuthServer.Security;

/// <summary>
/// The guess budget of the verification page (RFC 8628 §5.1: user codes are short, so the rate of guesses must be
/// limited). Every request that carries a user code, in the query or the form, by any method and any spelling of
/// the path, reserves a permit of <see cref="RateLimits.UserCodePerIp"/> for its address before OpenIddict looks
/// the code up; <c>Protocol.Device.UserCodeCheckedHandler</c> marks the code valid, and then the permit is given
/// back. So only wrong codes spend the budget, a burst of parallel guesses can't all pass a check that sees none
/// of them, and the budget is the sender's own: a stranger guessing from another address never spends the
/// owner's, and a guesser who changes address still faces the code's entropy (10 characters of 20, about 43 bits).
/// </summary>
internal sealed class UserCodeGuess
{
    /// <summary>Set when OpenIddict found the user code valid.</summary>
    public bool Valid { get; set; }

    internal static async Task GuardAsync(HttpContext context, RateLimits limits, string address, RequestDelegate next)
    {
        if (!await CarriesUserCodeAsync(context))
        {
            await next(context);
            return;
        }

        var decision = await limits.AcquireAsync(RateLimits.UserCodePerIp, address, context.RequestAborted);
        if (!decision.Allowed)
        {
            await RateLimitRejection.WriteAsync(context, decision);
            return;
        }

        var guess = new UserCodeGuess();
        context.Features.Set(guess);
        try
        {
            await next(context);
        }
        finally
        {
            if (guess.Valid)
            {
                await limits.ReleaseAsync(RateLimits.UserCodePerIp, address);
            }
        }
    }

    // Note: OpenIddict reads the code from the query of a GET and the form of a POST; either counts here, whatever
    // the method, so moving the code to the other place (or sending both) is no way around the budget.
    private static async Task<bool> CarriesUserCodeAsync(HttpContext context)
    {
        if (!string.IsNullOrEmpty(context.Request.Query["user_code"].ToString()))
        {
            return true;
        }

        if (!context.Request.HasFormContentType)
        {
            return false;
        }

        try
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            return !string.IsNullOrEmpty(form["user_code"].ToString());
        }
        catch (Exception exception) when (exception is InvalidDataException or IOException or BadHttpRequestException)
        {
            // A malformed body carries no code OpenIddict could read; the request is refused further on.
            return false;
        }
    }
}
