using System.CommandLine;
using Microsoft.EntityFrameworkCore;
using OAuthServer.Accounts;
using OAuthServer.Admin;
using OAuthServer.Data;

namespace OAuthServer.Cli;

internal static class UsersCommands
{
    public static Command Command(IServiceProvider services, TextReader input, TextWriter output, TextWriter error)
    {
        var email = new Option<string>("--email") { Description = "The user's email address.", Required = true };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from standard input (required).", Required = true };

        var add = new Command("add", "Create a user.") { email, passwordStdin };
        add.SetAction(async (parse, cancellationToken) =>
        {
            if (await CliCommands.ReadRequiredSecretAsync(input, error, "password") is not { } password)
            {
                return 1;
            }

            await using var scope = services.CreateAsyncScope();
            CliCommands.BeginAudit(scope.ServiceProvider, AuditActions.UserCreated);
            var created = await scope.ServiceProvider.GetRequiredService<UserAccounts>()
                .CreateAsync(parse.GetRequiredValue(email), password, CliCommands.CliOrigin, cancellationToken);
            return await CliCommands.ReportAsync(output, error, created,
                created.Succeeded ? $"Created user {created.Value.Id} ({created.Value.Email})." : string.Empty);
        });

        var setPassword = new Command("set-password", "Set a new password; ends the user's sessions and revokes their tokens.") { email, passwordStdin };
        setPassword.SetAction(async (parse, cancellationToken) =>
        {
            if (await CliCommands.ReadRequiredSecretAsync(input, error, "password") is not { } password)
            {
                return 1;
            }

            return await ChangeUserAsync(services, output, error, parse.GetRequiredValue(email), AuditActions.PasswordChanged, "Password changed",
                (accounts, id) => accounts.SetPasswordAsync(id, password, CliCommands.CliOrigin, cancellationToken), cancellationToken);
        });

        var signOutAll = new Command("sign-out-all", "End every user's browser sessions (emergency): everyone signs in again at their next authorize.");
        signOutAll.SetAction(async (_, cancellationToken) =>
        {
            await using var scope = services.CreateAsyncScope();
            var count = await scope.ServiceProvider.GetRequiredService<UserAccounts>().SignOutEveryoneAsync(CliCommands.CliOrigin, cancellationToken);
            await CliCommands.RecordBulkChangeAsync(scope.ServiceProvider, AuditActions.UsersSignedOutAll, "user", new { users = count }, cancellationToken);
            await output.WriteLineAsync($"Ended the browser sessions of {count} user(s); each signs in again at their next authorize request.");
            return 0;
        });

        var grant = new Option<bool>("--grant") { Description = "Make the user an administrator (the admin API after a recent second factor)." };
        var revoke = new Option<bool>("--revoke") { Description = "Take the user's admin access away." };
        var admin = new Command("admin", "Make a user an administrator of this server (--grant), or no longer one (--revoke).") { email, grant, revoke };
        admin.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(grant) == parse.GetValue(revoke))
            {
                await error.WriteLineAsync("error: give exactly one of --grant and --revoke.");
                return 1;
            }

            var administrator = parse.GetValue(grant);
            return await ChangeUserAsync(services, output, error, parse.GetRequiredValue(email),
                administrator ? AuditActions.AdministratorGranted : AuditActions.AdministratorRevoked,
                administrator ? "Now an administrator" : "No longer an administrator",
                (accounts, id) => accounts.SetAdministratorAsync(id, administrator, CliCommands.CliOrigin, cancellationToken), cancellationToken);
        });

        var resetFactors = new Command("reset-factors", "Remove every second factor and recovery code of a user (a lost phone); ends their sessions and revokes their tokens.") { email };
        resetFactors.SetAction((parse, cancellationToken) => ChangeUserAsync(services, output, error, parse.GetRequiredValue(email), AuditActions.FactorsReset, "Second factors reset",
            (provider, accounts, id) => accounts.ResetSecondFactorsAsync(id, provider.GetRequiredService<Accounts.Factors.SecondFactors>(), CliCommands.CliOrigin, cancellationToken), cancellationToken));

        var users = new Command("users", "Manage users.") { add, setPassword, signOutAll, admin, resetFactors, UsersListCommand(services, output, error) };
        foreach (var (name, action, summary, done, change) in new (string, string, string, string, Func<UserAccounts, Guid, CancellationToken, Task<Outcome>>)[]
        {
            ("disable", AuditActions.AccountDisabled, "Disable a user; ends their sessions and revokes their tokens.", "Disabled", (accounts, id, token) => accounts.DisableAsync(id, CliCommands.CliOrigin, token)),
            ("enable", AuditActions.AccountEnabled, "Enable a disabled user.", "Enabled", (accounts, id, token) => accounts.EnableAsync(id, CliCommands.CliOrigin, token)),
            ("lock", AuditActions.AccountLocked, "Lock a user everywhere (e.g. a confirmed compromise); ends their sessions and revokes their tokens.", "Locked", (accounts, id, token) => accounts.LockAsync(id, CliCommands.CliOrigin, token)),
            ("unlock", AuditActions.AccountUnlocked, "Clear an operator lock, the automatic lockout and the failure counts.", "Unlocked", (accounts, id, token) => accounts.UnlockAsync(id, CliCommands.CliOrigin, token)),
            ("delete", AuditActions.UserDeleted, "Delete a user and revoke their tokens.", "Deleted", (accounts, id, token) => accounts.DeleteAsync(id, CliCommands.CliOrigin, token)),
        })
        {
            var command = new Command(name, summary) { email };
            command.SetAction((parse, cancellationToken) => ChangeUserAsync(services, output, error, parse.GetRequiredValue(email), action, done,
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

    private static Task<int> ChangeUserAsync(
        IServiceProvider services, TextWriter output, TextWriter error, string email, string action, string done,
        Func<UserAccounts, Guid, Task<Outcome>> change, CancellationToken cancellationToken) =>
        ChangeUserAsync(services, output, error, email, action, done, (_, accounts, id) => change(accounts, id), cancellationToken);

    private static async Task<int> ChangeUserAsync(
        IServiceProvider services, TextWriter output, TextWriter error, string email, string action, string done,
        Func<IServiceProvider, UserAccounts, Guid, Task<Outcome>> change, CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        CliCommands.BeginAudit(scope.ServiceProvider, action);
        var accounts = scope.ServiceProvider.GetRequiredService<UserAccounts>();
        var user = EmailAddress.IsValid(email) ? await accounts.FindByEmailAsync(email, cancellationToken) : null;
        var outcome = user is null ? Problem.NotFound($"No user has the email {email}.") : await change(scope.ServiceProvider, accounts, user.Id);
        return await CliCommands.ReportAsync(output, error, outcome, $"{done}: {email}.");
    }
}
