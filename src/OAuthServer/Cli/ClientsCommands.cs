using System.CommandLine;
using OAuthServer.Admin;

namespace OAuthServer.Cli;

internal static class ClientsCommands
{
    public static Command Command(IServiceProvider services, TextReader input, TextWriter output, TextWriter error)
    {
        var clientId = new Option<string>("--client-id") { Description = "The client_id.", Required = true };
        var type = new Option<string>("--type") { Description = "public or confidential.", Required = true };
        type.AcceptOnlyFromAmong("public", "confidential");
        var redirectUri = new Option<string[]>("--redirect-uri") { Description = "A redirect URI (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var postLogoutUri = new Option<string[]>("--post-logout-redirect-uri") { Description = "A post-logout redirect URI (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var scope = new Option<string[]>("--scope") { Description = "A scope the client may request (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var secretStdin = new Option<bool>("--secret-stdin") { Description = "Read the client secret from standard input (confidential clients)." };
        var clientCredentials = new Option<bool>("--client-credentials") { Description = "Allow the client_credentials grant (confidential clients only)." };
        var deviceCode = new Option<bool>("--device-code") { Description = "Allow the device authorization grant (RFC 8628, with refresh tokens) for TVs and CLIs." };
        var consent = new Option<string>("--consent") { Description = "explicit (default) or implicit (first-party apps: no consent page).", DefaultValueFactory = _ => "explicit" };
        consent.AcceptOnlyFromAmong("explicit", "implicit");
        var displayName = new Option<string?>("--display-name") { Description = "The name shown on the consent page." };
        var applicationType = new Option<string>("--application-type") { Description = "web (default) or native (may use private-use redirect schemes).", DefaultValueFactory = _ => "web" };
        applicationType.AcceptOnlyFromAmong("web", "native");
        var jwksFile = new Option<FileInfo?>("--jwks-file") { Description = "private_key_jwt: a file with the client's public keys (a JWKS); the client gets no secret." };
        var jwksUri = new Option<string?>("--jwks-uri") { Description = "private_key_jwt: the https URL the client serves its public keys (a JWKS) at; the client gets no secret." };
        var exchangeAudience = new Option<string[]>("--token-exchange-audience") { Description = "An audience or resource URI the client may exchange user tokens for (RFC 8693; repeatable; confidential clients).", Arity = ArgumentArity.ZeroOrMore };
        var retryWindow = new Option<int?>("--refresh-retry-window") { Description = "Seconds during which a retried refresh gets the same new refresh token (0: off; default: the server's)." };

        var dpopBound = new Option<bool>("--dpop-bound-access-tokens") { Description = "Refuse this client's token requests without a DPoP proof (RFC 9449 §5.2)." };
        var requireSecondFactor = new Option<bool>("--require-second-factor") { Description = "Every sign-in to this client needs a second factor (acr urn:oauthserver:acr:mfa), whatever its requests ask for." };
        var logoUri = new Option<string?>("--logo-uri") { Description = "The client's logo (an https URL), shown on the sign-in and consent pages." };
        var clientUri = new Option<string?>("--client-uri") { Description = "The client's home page (an https URL), linked from the sign-in and consent pages." };

        var add = new Command("add", "Register a client.")
        {
            clientId, type, redirectUri, postLogoutUri, scope, secretStdin, clientCredentials, consent, displayName, applicationType, jwksFile, jwksUri, deviceCode,
            exchangeAudience, retryWindow, dpopBound, requireSecondFactor, logoUri, clientUri,
        };
        add.SetAction(async (parse, cancellationToken) =>
        {
            string? secret = null;
            if (parse.GetValue(secretStdin) && (secret = await CliCommands.ReadRequiredSecretAsync(input, error, "secret")) is null)
            {
                return 1;
            }

            string? jwks = null;
            if (parse.GetValue(jwksFile) is { } file)
            {
                if (!file.Exists || file.Length > Protocol.Assertions.ClientKeySet.MaxJwksLength)
                {
                    await error.WriteLineAsync($"--jwks-file: '{file.FullName}' does not exist or is larger than {Protocol.Assertions.ClientKeySet.MaxJwksLength} bytes.");
                    return 1;
                }

                jwks = await File.ReadAllTextAsync(file.FullName, cancellationToken);
            }

            var keys = jwks is not null || parse.GetValue(jwksUri) is not null;
            // Note: without --secret-stdin a confidential client gets a server-generated 256-bit secret, shown once;
            // a private_key_jwt client gets none.
            var generated = secret is null && parse.GetRequiredValue(type) == "confidential" && !keys;
            if (generated)
            {
                secret = ClientRegistry.NewSecret();
            }

            var registration = new ClientRegistration
            {
                ClientId = parse.GetRequiredValue(clientId),
                DisplayName = parse.GetValue(displayName),
                Kind = parse.GetRequiredValue(type) == "public" ? ClientKind.Public : ClientKind.Confidential,
                ApplicationType = parse.GetValue(applicationType) == "native" ? ClientApplicationType.Native : ClientApplicationType.Web,
                Secret = secret,
                RedirectUris = parse.GetValue(redirectUri) ?? [],
                PostLogoutRedirectUris = parse.GetValue(postLogoutUri) ?? [],
                Scopes = parse.GetValue(scope) ?? [],
                AllowClientCredentials = parse.GetValue(clientCredentials),
                AllowDeviceCode = parse.GetValue(deviceCode),
                ImplicitConsent = parse.GetValue(consent) == "implicit",
                Jwks = jwks,
                JwksUri = parse.GetValue(jwksUri),
                TokenExchangeAudiences = parse.GetValue(exchangeAudience) ?? [],
                RefreshRetryWindow = parse.GetValue(retryWindow) is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                DpopBoundAccessTokens = parse.GetValue(dpopBound),
                RequireSecondFactor = parse.GetValue(requireSecondFactor),
                LogoUri = parse.GetValue(logoUri),
                ClientUri = parse.GetValue(clientUri),
            };

            await using var serviceScope = services.CreateAsyncScope();
            CliCommands.BeginAudit(serviceScope.ServiceProvider, AuditActions.ClientCreated);
            var outcome = await serviceScope.ServiceProvider.GetRequiredService<ClientRegistry>().RegisterAsync(registration, CliCommands.CliOrigin, cancellationToken: cancellationToken);
            var exitCode = await CliCommands.ReportAsync(output, error, outcome, $"Registered {registration.Kind.ToString().ToLowerInvariant()} client '{registration.ClientId}'.");
            if (exitCode == 0 && generated)
            {
                await output.WriteLineAsync($"client_secret: {secret}");
                await output.WriteLineAsync("Store it now: it is shown only once.");
            }

            return exitCode;
        });

        var list = new Command("list", "List the registered clients (never their secrets).");
        list.SetAction(async (_, cancellationToken) =>
        {
            await using var serviceScope = services.CreateAsyncScope();
            var views = await serviceScope.ServiceProvider.GetRequiredService<ClientRegistry>().ListAsync(0, int.MaxValue, cancellationToken);
            await output.WriteLineAsync("client_id\ttype\tapplication_type\tgrant_types\tredirect_uris\trequire_second_factor");
            foreach (var view in views.OrderBy(view => view.ClientId, StringComparer.Ordinal))
            {
                await output.WriteLineAsync($"{view.ClientId}\t{view.Type}\t{view.ApplicationType}\t{string.Join(',', view.GrantTypes)}\t{string.Join(' ', view.RedirectUris)}\t{(view.RequireSecondFactor ? "yes" : "no")}");
            }

            return 0;
        });

        var delete = new Command("delete", "Delete a client with its authorizations and tokens.") { clientId };
        delete.SetAction(async (parse, cancellationToken) =>
        {
            await using var serviceScope = services.CreateAsyncScope();
            CliCommands.BeginAudit(serviceScope.ServiceProvider, AuditActions.ClientDeleted);
            var outcome = await serviceScope.ServiceProvider.GetRequiredService<ClientRegistry>().DeleteAsync(parse.GetRequiredValue(clientId), CliCommands.CliOrigin, cancellationToken);
            return await CliCommands.ReportAsync(output, error, outcome, $"Deleted client '{parse.GetRequiredValue(clientId)}'.");
        });

        var rotate = new Command("rotate-secret", "Give a confidential client a new server-generated secret, shown once.") { clientId };
        rotate.SetAction(async (parse, cancellationToken) =>
        {
            await using var serviceScope = services.CreateAsyncScope();
            CliCommands.BeginAudit(serviceScope.ServiceProvider, AuditActions.ClientSecretRotated);
            var rotated = await serviceScope.ServiceProvider.GetRequiredService<ClientRegistry>().RotateSecretAsync(parse.GetRequiredValue(clientId), CliCommands.CliOrigin, cancellationToken);
            var exitCode = await CliCommands.ReportAsync(output, error, rotated, rotated.Succeeded ? $"client_secret: {rotated.Value}" : string.Empty);
            if (exitCode == 0)
            {
                await output.WriteLineAsync("The old secret no longer works. Store this one now: it is shown only once.");
            }

            return exitCode;
        });

        return new Command("clients", "Manage OAuth clients.") { add, list, delete, rotate };
    }
}
