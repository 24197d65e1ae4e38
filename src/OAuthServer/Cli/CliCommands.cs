using System.CommandLine;
using OAuthServer.Admin;
using OAuthServer.Data;
using OAuthServer.Events;

namespace OAuthServer.Cli;

/// <summary>
/// The admin verbs of the server binary (<c>migrate</c>, <c>users</c>, <c>clients</c>, <c>keys</c>, <c>tokens</c>, <c>scopes</c>), for bootstrap and
/// scripts. Secrets and passwords are read from standard input only, never from the command line, where
/// they would land in shell history and the process list.
/// </summary>
internal static class CliCommands
{
    private static readonly HashSet<string> Verbs = ["migrate", "users", "clients", "argon2", "keys", "tokens", "scopes"];

    // Events from the CLI carry no IP: the operator's shell is the origin.
    internal static readonly RequestOrigin CliOrigin = new(null, "oauthserver-cli");

    public static bool IsCommand(string[] args) => args.Length > 0 && Verbs.Contains(args[0]);

    private static RootCommand Root(IServiceProvider services, TextReader input, TextWriter output, TextWriter error)
    {
        var root = new RootCommand(
            "OAuthServer: run with no arguments (or with host settings such as --urls http://+:8080 --Server:Issuer=https://login.example.com/) to serve; or use one of these admin verbs.");
        root.Add(MigrateCommand(services, output));
        root.Add(UsersCommands.Command(services, input, output, error));
        root.Add(ClientsCommands.Command(services, input, output, error));
        root.Add(Argon2Calibration.Command(services, output, error));
        root.Add(KeysCommands.Command(services, output, error));
        root.Add(TokensCommands.Command(services, output));
        root.Add(ScopesCommands.Command(services, output, error));
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

    // Note: threat model 3.3: an operator's shell is an actor too; its changes are audited like the API's.
    internal static void BeginAudit(IServiceProvider scoped, string action) =>
        scoped.GetRequiredService<AuditScope>().Begin("cli", action, ip: null);

    /// <summary>Records a bulk change of this CLI run in the audit trail (actor <c>cli</c>, the action begun).</summary>
    internal static Task RecordBulkChangeAsync(IServiceProvider scoped, string action, string targetType, object counts, CancellationToken cancellationToken)
    {
        BeginAudit(scoped, action);
        return scoped.GetRequiredService<AuditTrail>().RecordBulkChangeAsync(targetType, counts, cancellationToken);
    }

    /// <summary>The one place a domain <see cref="Outcome"/> becomes the CLI's output and exit code (0 or 1).</summary>
    internal static async Task<int> ReportAsync(TextWriter output, TextWriter error, Outcome outcome, string success)
    {
        if (!outcome.Succeeded)
        {
            foreach (var problem in outcome.Problems)
            {
                await error.WriteLineAsync($"error: {problem.Message}");
            }

            return 1;
        }

        await output.WriteLineAsync(success);
        return 0;
    }

    internal static async Task<string?> ReadRequiredSecretAsync(TextReader input, TextWriter error, string what)
    {
        var secret = ReadSecret(input);
        if (secret is null)
        {
            await error.WriteLineAsync($"error: no {what} on standard input: pipe it in, e.g. `printf %s \"$SECRET\" | ... --{what}-stdin`.");
        }

        return secret;
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
