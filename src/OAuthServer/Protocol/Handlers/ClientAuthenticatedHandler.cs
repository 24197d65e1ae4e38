using Microsoft.AspNetCore;
using OAuthServer.Security;
using OpenIddict.Server;

namespace OAuthServer.Protocol;

/// <summary>
/// Tells the request's <see cref="RateLimitingMiddleware.ClientAuthReservation"/> that OpenIddict has authenticated
/// the client (its secret or assertion checked), right after the check, so a real client's permits are held
/// only for the moment the check takes.
/// </summary>
internal sealed class ClientAuthenticatedHandler : IOpenIddictServerHandler<OpenIddictServerEvents.ProcessAuthenticationContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<OpenIddictServerEvents.ProcessAuthenticationContext>()
            .UseSingletonHandler<ClientAuthenticatedHandler>()
            // Note: after ValidateClientSecret (which rejects, and so ends the pipeline, on a bad secret) and before the
            // token validation that follows it at +1000.
            .SetOrder(OpenIddictServerHandlers.ValidateClientSecret.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(OpenIddictServerEvents.ProcessAuthenticationContext context)
    {
        if (context.IsRejected
            || context.EndpointType is not (OpenIddictServerEndpointType.Token or OpenIddictServerEndpointType.PushedAuthorization
                or OpenIddictServerEndpointType.Introspection or OpenIddictServerEndpointType.Revocation or OpenIddictServerEndpointType.DeviceAuthorization)
            || (string.IsNullOrEmpty(context.ClientSecret) && string.IsNullOrEmpty(context.ClientAssertion))
            || context.Transaction.GetHttpRequest()?.HttpContext.Items[typeof(RateLimitingMiddleware.ClientAuthReservation)]
                is not RateLimitingMiddleware.ClientAuthReservation reservation
            || !string.Equals(reservation.ClientId, context.ClientId, StringComparison.Ordinal)
            || reservation.Authenticated)
        {
            return;
        }

        await reservation.AuthenticatedAsync();
    }
}
