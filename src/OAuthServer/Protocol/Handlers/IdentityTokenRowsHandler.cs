using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace OAuthServer.Protocol;

/// <summary>
/// Issues identity tokens without a token row. An ID token is a signed statement for the client about the sign-in
/// (OIDC Core §2): nothing ever presents it to us for access, so there is nothing to revoke or introspect, and
/// the one place we read it back (<c>id_token_hint</c> at end-session) checks its signature, issuer and audience,
/// not a row. A row would cost every sign-in and every refresh one committed write that nobody reads. Access tokens, codes and refresh tokens keep their rows: revocation,
/// introspection and replay detection need them.
/// </summary>
internal sealed class IdentityTokenRowsHandler : IOpenIddictServerHandler<GenerateTokenContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<GenerateTokenContext>()
            .UseSingletonHandler<IdentityTokenRowsHandler>()
            .SetOrder(OpenIddictServerHandlers.Protection.CreateTokenEntry.Descriptor.Order - 1)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public ValueTask HandleAsync(GenerateTokenContext context)
    {
        if (context.TokenType == TokenTypeIdentifiers.IdentityToken)
        {
            context.CreateTokenEntry = false;
        }

        return default;
    }
}
