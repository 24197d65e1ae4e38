using System.CommandLine;
using OAuthServer.Admin;

namespace OAuthServer.Cli;

/// <summary><c>scopes list</c> and <c>scopes describe</c>: what the consent page tells people about each scope.</summary>
internal static class ScopesCommands
{
    public static Command Command(IServiceProvider services, TextWriter output, TextWriter error)
    {
        var name = new Argument<string>("name") { Description = "The API scope (it exists once a client is registered with it)." };
        var displayName = new Option<string?>("--display-name") { Description = "A short name shown on the consent page (\"Read your invoices\")." };
        var description = new Option<string?>("--description") { Description = "One sentence on what an app can do with the scope." };
        var culture = new Option<string?>("--culture") { Description = "The language these words are in (a BCP 47 tag such as de); without it, the default words." };

        var describe = new Command("describe", "Set an API scope's display name and description, by default or for one language.")
        {
            name, displayName, description, culture,
        };
        describe.SetAction(async (parse, cancellationToken) =>
        {
            var scopeName = parse.GetRequiredValue(name);
            var newName = parse.GetValue(displayName);
            var newDescription = parse.GetValue(description);
            if (newName is null && newDescription is null)
            {
                await error.WriteLineAsync("error: give --display-name, --description or both.");
                return 1;
            }

            await using var serviceScope = services.CreateAsyncScope();
            var registry = serviceScope.ServiceProvider.GetRequiredService<ScopeRegistry>();
            var current = await registry.GetAsync(scopeName, cancellationToken);
            if (current is null)
            {
                await error.WriteLineAsync($"error: There is no scope '{scopeName}'; an API scope exists once a client is registered with it.");
                return 1;
            }

            // Note: one language at a time; the words of the others are kept as they are.
            var displayNames = current.DisplayNames.ToDictionary(pair => pair.Key, pair => (string?)pair.Value, StringComparer.Ordinal);
            var descriptions = current.Descriptions.ToDictionary(pair => pair.Key, pair => (string?)pair.Value, StringComparer.Ordinal);
            var change = new ScopeWordingChange(scopeName, current.DisplayName, current.Description, displayNames, descriptions);
            if (parse.GetValue(culture) is { } language)
            {
                if (newName is not null)
                {
                    displayNames[language] = newName;
                }

                if (newDescription is not null)
                {
                    descriptions[language] = newDescription;
                }
            }
            else
            {
                change = change with { DisplayName = newName ?? current.DisplayName, Description = newDescription ?? current.Description };
            }

            CliCommands.BeginAudit(serviceScope.ServiceProvider, AuditActions.ScopeUpdated);
            var outcome = await registry.SetWordingAsync(change, CliCommands.CliOrigin, cancellationToken);
            return await CliCommands.ReportAsync(output, error, outcome, $"Described scope '{scopeName}'.");
        });

        var list = new Command("list", "List the scopes with the words the consent page shows for them.");
        list.SetAction(async (_, cancellationToken) =>
        {
            await using var serviceScope = services.CreateAsyncScope();
            var views = await serviceScope.ServiceProvider.GetRequiredService<ScopeRegistry>().ListAsync(cancellationToken);
            await output.WriteLineAsync("name\tkind\tdisplay_name\tdescription\tlanguages");
            foreach (var view in views)
            {
                var languages = string.Join(',', view.DisplayNames.Keys.Union(view.Descriptions.Keys, StringComparer.Ordinal).Order(StringComparer.Ordinal));
                await output.WriteLineAsync(
                    $"{view.Name}\t{(view.Standard ? "standard" : "api")}\t{view.DisplayName ?? "(not described: shown by its name)"}\t{view.Description ?? string.Empty}\t{languages}");
            }

            return 0;
        });

        return new Command("scopes", "Scopes and what the consent page says about them.") { list, describe };
    }
}
