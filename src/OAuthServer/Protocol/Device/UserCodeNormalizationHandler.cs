using OpenIddict.Server;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol.Device;

/// <summary>
/// RFC 8628 §6.1: user codes are typed by people, so case is not significant. OpenIddict compares the characters
/// of the charset exactly (and drops the others, such as the dash and spaces), so the code is upper-cased once,
/// as soon as it is read, before OpenIddict looks it up.
/// </summary>
internal sealed class UserCodeNormalizationHandler : IOpenIddictServerHandler<ExtractEndUserVerificationRequestContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<ExtractEndUserVerificationRequestContext>()
            .UseSingletonHandler<UserCodeNormalizationHandler>()
            .SetOrder(int.MaxValue - 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(ExtractEndUserVerificationRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Request?.UserCode is { Length: > 0 } code)
        {
            context.Request.UserCode = code.ToUpperInvariant();
        }

        return ValueTask.CompletedTask;
    }
}
