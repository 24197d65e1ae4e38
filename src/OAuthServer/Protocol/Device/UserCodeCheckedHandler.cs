using OAuthServer.Observability;
using OAuthServer.Security;
using OpenIddict.Server;
using Microsoft.AspNetCore;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Device;

/// <summary>
/// Right after OpenIddict looked the user code up: a valid code gives back the guess the rate limiter reserved
/// for it (<see cref="UserCodeGuess"/>); a wrong, expired or used one keeps it spent and is counted.
/// </summary>
internal sealed class UserCodeCheckedHandler(OAuthMetrics metrics) : IOpenIddictServerHandler<ValidateEndUserVerificationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ValidateEndUserVerificationRequestContext>()
            .UseSingletonHandler<UserCodeCheckedHandler>()
            .SetOrder(OpenIddictServerHandlers.Device.ValidateVerificationAuthentication.Descriptor.Order + 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ValidateEndUserVerificationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.UserCodePrincipal is not null)
        {
            if (context.Transaction.GetHttpRequest()?.HttpContext.Features.Get<UserCodeGuess>() is { } guess)
            {
                guess.Valid = true;
            }
        }
        else if (!string.IsNullOrEmpty(context.Request.UserCode))
        {
            metrics.DeviceVerifications.Add(1, new KeyValuePair<string, object?>("result", "invalid_code"));
        }

        return ValueTask.CompletedTask;
    }
}
