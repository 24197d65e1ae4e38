using System.CommandLine;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Accounts;
using OAuthServer.Admin;
using OAuthServer.Data;
using OAuthServer.Events;

namespace OAuthServer.Cli;

/// <summary>
/// The admin verbs of the server binary (<c>migrate</c>, <c>users</c>, <c>clients</c>, <c>keys</c>, <c>tokens</c>), for bootstrap and
/// scripts. Secrets and passwords are read from standard input only, never from the command line, where
/// they would land in shell history and the process list.
/// </summary>
internal static class CliCommands
{
    private static readonly HashSet<string> Verbs = ["migrate", "users", "clients", "argon2", "keys", "tokens"];

    // Events from the CLI carry no IP: the operator's shell is the origin.
    internal static readonly RequestOrigin CliOrigin = new(null, "oauthserver-cli");

    public static bool IsCommand(string[] args) => args.Length > 0 && Verbs.Contains(args[0]);

    private static RootCommand Root(IServiceProvider services, TextReader input, TextWriter output, TextWriter error)
    {
        var root = new RootCommand(
            "OAuthServer: run with no arguments (or with host settings such as --urls http://+:8080 --Server:Issuer=https://login.example.com/) to serve; or use one of these admin verbs.");
        root.Add(MigrateCommand(services, output));
        root.Add(UsersCommand(services, input, output, error));
        root.Add(ClientsCommand(services, input, output, error));
        root.Add(Argon2Calibration.Command(services, output, error));
        root.Add(KeysCommands.Command(services, output, error));
        root.Add(TokensCommands.Command(services, output));
        return root;
    }

    /// <summary>
    /// <c>--help</c>, <c>-h</c> and <c>help [verb…]</c> print the usage (exit 0); a first word that is no verb prints
    /// it to standard error (exit 1). Nothing is configured or started: the verbs' actions never run here.
    /// </summary>
    public static async Task<int> UsageAsync(string[] args, TextWriter output, TextWriter error)
    {
        var root = Root(new ServiceCollection().BuildServiceProvider(), TextReader.Null, output, error);
        // Note: `help keys new` is `keys new --help`; `help lsit` is as mistyped as `lsit`. Settings after the help
        // word (--urls ...) are ignored: nothing is served.
        string[] words = args[0] == "help" ? [.. args[1..].TakeWhile(word => !word.StartsWith('-'))] : [];
        if (ProgramStart.Classify(args) == StartMode.Unknown || (words.Length > 0 && !IsCommand(words)))
        {
            await error.WriteLineAsync($"error: '{(words.Length > 0 ? words[0] : args[0])}' is not a verb of OAuthServer.");
            await root.Parse(["--help"]).InvokeAsync(new InvocationConfiguration { Output = error, Error = error });
            return 1;
        }

        string[] request = args[0] == "help" ? [.. words, "--help"] : args;
        return await root.Parse(request).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
    }

    public static async Task<int> RunAsync(IServiceProvider services, string[] args, TextReader input, TextWriter output, TextWriter error)
    {
        var root = Root(services, input, output, error);
        try
        {
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Note: an operator gets one clear line, not a stack trace (the database is down, a file is unreadable...).
            await error.WriteLineAsync($"error: {exception.GetBaseException().Message}");
            return 1;
        }
    }

    private static Command MigrateCommand(IServiceProvider services, TextWriter output)
    {
        var command = new Command("migrate", "Apply the database migrations of the configured provider.");
        command.SetAction(async (_, cancellationToken) =>
        {
            await using var scope = services.CreateAsyncScope();
            var applied = await scope.ServiceProvider.GetRequiredService<DatabaseMigrator>().MigrateAsync(cancellationToken);
            await output.WriteLineAsync(applied.Count == 0 ? "Database is up to date." : $"Applied {applied.Count} migration(s).");
            return 0;
        });
        return command;
    }

    private static Command UsersCommand(IServiceProvider services, TextReader input, TextWriter output, TextWriter error)
    {
        var email = new Option<string>("--email") { Description = "The user's email address.", Required = true };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from standard input (required).", Required = true };

        var add = new Command("add", "Create a user.") { email, passwordStdin };
        add.SetAction(async (parse, cancellationToken) =>
        {
            if (await ReadRequiredSecretAsync(input, error, "password") is not { } password)
            {
                return 1;
            }

            await using var scope = services.CreateAsyncScope();
            BeginAudit(scope.ServiceProvider, "user.create");
            var (user, problem) = await scope.ServiceProvider.GetRequiredService<UserAccounts>()
                .CreateAsync(parse.GetRequiredValue(email), password, CliOrigin, cancellationToken);
            return await ReportAsync(output, error, problem, $"Created user {user?.Id} ({user?.Email}).");
        });

        var setPassword = new Command("set-password", "Set a new password; ends the user's sessions and revokes their tokens.") { email, passwordStdin };
        setPassword.SetAction(async (parse, cancellationToken) =>
        {
            if (await ReadRequiredSecretAsync(input, error, "password") is not { } password)
            {
                return 1;
            }

            return await ChangeUserAsync(services, output, error, parse.GetRequiredValue(email), "user.set_password", "Password changed",
                (accounts, id) => accounts.SetPasswordAsync(id, password, CliOrigin, cancellationToken), cancellationToken);
        });

        var signOutAll = new Command("sign-out-all", "End every user's browser sessions (emergency): everyone signs in again at their next authorize.");
        signOutAll.SetAction(async (_, cancellationToken) =>
        {
            await using var scope = services.CreateAsyncScope();
            var count = await scope.ServiceProvider.GetRequiredService<UserAccounts>().SignOutEveryoneAsync(CliOrigin, cancellationToken);
            await RecordBulkChangeAsync(scope.ServiceProvider, "users.sign_out_all", "user", new { users = count }, cancellationToken);
            await output.WriteLineAsync($"Ended the browser sessions of {count} user(s); each signs in again at their next authorize request.");
            return 0;
        });

        var users = new Command("users", "Manage users.") { add, setPassword, signOutAll, UsersListCommand(services, output, error) };
        foreach (var (name, summary, done, change) in new (string, string, string, Func<UserAccounts, Guid, CancellationToken, Task<AccountError?>>)[]
        {
            ("disable", "Disable a user; ends their sessions and revokes their tokens.", "Disabled", (accounts, id, token) => accounts.DisableAsync(id, CliOrigin, token)),
            ("enable", "Enable a disabled user.", "Enabled", (accounts, id, token) => accounts.EnableAsync(id, CliOrigin, token)),
            ("lock", "Lock a user everywhere (e.g. a confirmed compromise); ends their sessions and revokes their tokens.", "Locked", (accounts, id, token) => accounts.LockAsync(id, CliOrigin, token)),
            ("unlock", "Clear an operator lock, the automatic lockout and the failure counts.", "Unlocked", (accounts, id, token) => accounts.UnlockAsync(id, CliOrigin, token)),
            ("delete", "Delete a user and revoke their tokens.", "Deleted", (accounts, id, token) => accounts.DeleteAsync(id, CliOrigin, token)),
        })
        {
            var command = new Command(name, summary) { email };
            command.SetAction((parse, cancellationToken) => ChangeUserAsync(services, output, error, parse.GetRequiredValue(email), "user." + name, done,
                (accounts, id) => change(accounts, id, cancellationToken), cancellationToken));
            users.Add(command);
        }

        return users;
    }

    private static Command UsersListCommand(IServiceProvider services, TextWriter output, TextWriter error)
    {
        var limit = new Option<int>("--limit") { Description = "How many users to show (1..1000).", DefaultValueFactory = _ => 100 };
        var offset = new Option<int>("--offset") { Description = "How many users to skip (for the next page).", DefaultValueFactory = _ => 0 };
        var list = new Command("list", "List users by email: email, id, status, locked_until (never a password hash).") { limit, offset };
        list.SetAction(async (parse, cancellationToken) =>
        {
            var (take, skip) = (parse.GetValue(limit), parse.GetValue(offset));
            if (take is < 1 or > 1000 || skip < 0)
            {
                await error.WriteLineAsync("error: --limit must be 1..1000 and --offset 0 or more.");
                return 1;
            }

            await using var scope = services.CreateAsyncScope();
            // Note: only these columns are read, so no hash or stamp ever leaves the database; one more row than
            // asked tells whether there is a next page. Ordered by the normalized email, as the index is.
            var rows = await scope.ServiceProvider.GetRequiredService<OAuthDbContext>().Users
                .OrderBy(user => user.NormalizedEmail).ThenBy(user => user.Id).Skip(skip).Take(take + 1)
                .Select(user => new { user.Email, user.Id, user.Status, user.LockedUntil })
                .ToListAsync(cancellationToken);
            await output.WriteLineAsync("email\tid\tstatus\tlocked_until");
            foreach (var row in rows.Take(take))
            {
                await output.WriteLineAsync(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{row.Email}\t{row.Id}\t{row.Status.ToString().ToLowerInvariant()}\t{row.LockedUntil?.ToString("u", System.Globalization.CultureInfo.InvariantCulture) ?? "-"}"));
            }

            if (rows.Count > take)
            {
                await error.WriteLineAsync($"More users: run again with --offset {skip + take}.");
            }

            return 0;
        });
        return list;
    }

    private static async Task<int> ChangeUserAsync(
        IServiceProvider services, TextWriter output, TextWriter error, string email, string action, string done,
        Func<UserAccounts, Guid, Task<AccountError?>> change, CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        BeginAudit(scope.ServiceProvider, action);
        var accounts = scope.ServiceProvider.GetRequiredService<UserAccounts>();
        var user = EmailAddress.IsValid(email) ? await accounts.FindByEmailAsync(email, cancellationToken) : null;
        var problem = user is null ? new AccountError("not_found", $"No user has the email {email}.") : await change(accounts, user.Id);
        return await ReportAsync(output, error, problem, $"{done}: {email}.");
    }

    // Note: threat model 3.3: an operator's shell is an actor too; its changes are audited like the API's.
    private static void BeginAudit(IServiceProvider scoped, string action) =>
        scoped.GetRequiredService<AuditScope>().Begin("cli", action, ip: null);

    /// <summary>
    /// A bulk change has no entity for the audit interceptor to see, so it writes its own row (threat model 3.3):
    /// actor <c>cli</c>, target <c>*</c>, and the counts.
    /// </summary>
    internal static async Task RecordBulkChangeAsync(IServiceProvider scoped, string action, string targetType, object counts, CancellationToken cancellationToken)
    {
        var db = scoped.GetRequiredService<OAuthDbContext>();
        db.AuditLog.Add(new AuditEntry
        {
            OccurredAt = scoped.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime,
            Actor = "cli",
            Action = action,
            TargetType = targetType,
            TargetId = "*",
            Changes = System.Text.Json.JsonSerializer.Serialize(new { after = counts }),
        });
        await db.SaveChangesAsync(cancellationToken);
    }

    private static async Task<int> ReportAsync(TextWriter output, TextWriter error, AccountError? problem, string success)
    {
        if (problem is not null)
        {
            await error.WriteLineAsync($"error: {problem.Message}");
            return 1;
        }

        await output.WriteLineAsync(success);
        return 0;
    }

    private static async Task<string?> ReadRequiredSecretAsync(TextReader input, TextWriter error, string what)
    {
        var secret = ReadSecret(input);
        if (secret is null)
        {
            await error.WriteLineAsync($"error: no {what} on standard input: pipe it in, e.g. `printf %s \"$SECRET\" | ... --{what}-stdin`.");
        }

        return secret;
    }

    private static Command ClientsCommand(IServiceProvider services, TextReader input, TextWriter output, TextWriter error)
    {
        var clientId = new Option<string>("--client-id") { Description = "The client_id.", Required = true };
        var type = new Option<string>("--type") { Description = "public or confidential.", Required = true };
        type.AcceptOnlyFromAmong("public", "confidential");
        var redirectUri = new Option<string[]>("--redirect-uri") { Description = "A redirect URI (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var postLogoutUri = new Option<string[]>("--post-logout-redirect-uri") { Description = "A post-logout redirect URI (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var scope = new Option<string[]>("--scope") { Description = "A scope the client may request (repeatable).", Arity = ArgumentArity.ZeroOrMore };
        var secretStdin = new Option<bool>("--secret-stdin") { Description = "Read the client secret from standard input (confidential clients)." };
        var clientCredentials = new Option<bool>("--client-credentials") { Description = "Allow the client_credentials grant (confidential clients only)." };
        var consent = new Option<string>("--consent") { Description = "explicit (default) or implicit (first-party apps: no consent page).", DefaultValueFactory = _ => "explicit" };
        consent.AcceptOnlyFromAmong("explicit", "implicit");
        var displayName = new Option<string?>("--display-name") { Description = "The name shown on the consent page." };
        var applicationType = new Option<string>("--application-type") { Description = "web (default) or native (may use private-use redirect schemes).", DefaultValueFactory = _ => "web" };
        applicationType.AcceptOnlyFromAmong("web", "native");

        var add = new Command("add", "Register a client.")
        {
            clientId, type, redirectUri, postLogoutUri, scope, secretStdin, clientCredentials, consent, displayName, applicationType,
        };
        add.SetAction(async (parse, cancellationToken) =>
        {
            string? secret = null;
            if (parse.GetValue(secretStdin) && (secret = await ReadRequiredSecretAsync(input, error, "secret")) is null)
            {
                return 1;
            }

            // Note: without --secret-stdin a confidential client gets a server-generated 256-bit secret, shown once.
            var generated = secret is null && parse.GetRequiredValue(type) == "confidential";
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
                ImplicitConsent = parse.GetValue(consent) == "implicit",
            };

            await using var serviceScope = services.CreateAsyncScope();
            BeginAudit(serviceScope.ServiceProvider, "client.create");
            var problems = await serviceScope.ServiceProvider.GetRequiredService<ClientRegistry>().RegisterAsync(registration, CliOrigin, cancellationToken);
            foreach (var problem in problems)
            {
                await error.WriteLineAsync($"error: {problem}");
            }

            if (problems.Count > 0)
            {
                return 1;
            }

            await output.WriteLineAsync($"Registered {registration.Kind.ToString().ToLowerInvariant()} client '{registration.ClientId}'.");
            if (generated)
            {
                await output.WriteLineAsync($"client_secret: {secret}");
                await output.WriteLineAsync("Store it now: it is shown only once.");
            }

            return 0;
        });

        var list = new Command("list", "List the registered clients (never their secrets).");
        list.SetAction(async (_, cancellationToken) =>
        {
            await using var serviceScope = services.CreateAsyncScope();
            var views = await serviceScope.ServiceProvider.GetRequiredService<ClientRegistry>().ListAsync(0, int.MaxValue, cancellationToken);
            await output.WriteLineAsync("client_id\ttype\tapplication_type\tgrant_types\tredirect_uris");
            foreach (var view in views.OrderBy(view => view.ClientId, StringComparer.Ordinal))
            {
                await output.WriteLineAsync($"{view.ClientId}\t{view.Type}\t{view.ApplicationType}\t{string.Join(',', view.GrantTypes)}\t{string.Join(' ', view.RedirectUris)}");
            }

            return 0;
        });

        var delete = new Command("delete", "Delete a client with its authorizations and tokens.") { clientId };
        delete.SetAction(async (parse, cancellationToken) =>
        {
            await using var serviceScope = services.CreateAsyncScope();
            BeginAudit(serviceScope.ServiceProvider, "client.delete");
            var found = await serviceScope.ServiceProvider.GetRequiredService<ClientRegistry>().DeleteAsync(parse.GetRequiredValue(clientId), CliOrigin, cancellationToken);
            return await ReportAsync(output, error, found ? null : new AccountError("not_found", "No such client."), $"Deleted client '{parse.GetRequiredValue(clientId)}'.");
        });

        var rotate = new Command("rotate-secret", "Give a confidential client a new server-generated secret, shown once.") { clientId };
        rotate.SetAction(async (parse, cancellationToken) =>
        {
            await using var serviceScope = services.CreateAsyncScope();
            BeginAudit(serviceScope.ServiceProvider, "client.rotate_secret");
            var (newSecret, problem) = await serviceScope.ServiceProvider.GetRequiredService<ClientRegistry>().RotateSecretAsync(parse.GetRequiredValue(clientId), CliOrigin, cancellationToken);
            if (newSecret is null)
            {
                await error.WriteLineAsync($"error: {problem?.Message ?? "No such client."}");
                return 1;
            }

            await output.WriteLineAsync($"client_secret: {newSecret}");
            await output.WriteLineAsync("The old secret no longer works. Store this one now: it is shown only once.");
            return 0;
        });

        return new Command("clients", "Manage OAuth clients.") { add, list, delete, rotate };
    }

    // Reads one secret from redirected standard input; a single trailing newline (from echo) is not part of it.
    private static string? ReadSecret(TextReader input)
    {
        if (ReferenceEquals(input, Console.In) && !Console.IsInputRedirected)
        {
            return null;
        }

        var text = input.ReadToEnd();
        if (text.EndsWith("\r\n", StringComparison.Ordinal))
        {
            text = text[..^2];
        }
        else if (text.EndsWith('\n'))
        {
            text = text[..^1];
        }

        return text.Length == 0 ? null : text;
    }
}
