using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// After a rotation issued its new refresh token, keeps it (sealed, for the client's retry window) on the row of
/// the token it replaced, so a retry that comes back within the window gets the same one
/// (<see cref="RefreshRetryWindow"/>). With the window off (the default) nothing is written.
/// </summary>
internal sealed class RefreshSuccessorRecordHandler(RefreshRetryWindow retries) : IOpenIddictServerHandler<ProcessSignInContext>
{
    // Note: after the successor's row is written, and before the response leaves: a retry can only follow the response.
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ProcessSignInContext>()
            .AddFilter<OpenIddictServerHandlerFilters.RequireRefreshTokenGenerated>()
            .UseScopedHandler<RefreshSuccessorRecordHandler>()
            .SetOrder(OpenIddictServerHandlers.GenerateRefreshToken.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(ProcessSignInContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.EndpointType != OpenIddictServerEndpointType.Token || !context.Request.IsRefreshTokenGrantType()
            || string.IsNullOrEmpty(context.RefreshToken) || context.RefreshTokenPrincipal?.GetTokenId() is not { Length: > 0 } successorId)
        {
            return;
        }

        var authentication = context.Transaction.GetProperty<ProcessAuthenticationContext>(typeof(ProcessAuthenticationContext).FullName!);
        if (authentication?.RefreshTokenPrincipal?.GetTokenId() is { Length: > 0 } rotatedId)
        {
            await retries.RecordSuccessorAsync(rotatedId, successorId, context.RefreshToken, context.ClientId);
        }
    }
}
