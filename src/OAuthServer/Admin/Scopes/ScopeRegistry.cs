using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Localization;
using OAuthServer.Accounts;
using OAuthServer.Data;
using OAuthServer.Protocol;
using OpenIddict.Abstractions;
using OpenIddict.EntityFrameworkCore.Models;

namespace OAuthServer.Admin;

/// <summary>A scope as the admin API and the CLI show it: its name and the words the consent page uses for it.</summary>
internal sealed record ScopeView(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("standard")] bool Standard,
    [property: JsonPropertyName("display_name")] string? DisplayName,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("display_names")] IReadOnlyDictionary<string, string> DisplayNames,
    [property: JsonPropertyName("descriptions")] IReadOnlyDictionary<string, string> Descriptions);

/// <summary>The words an operator gives an API scope: the default ones, and per language (keyed by culture name).</summary>
internal sealed record ScopeWordingChange(
    string Name, string? DisplayName, string? Description, IReadOnlyDictionary<string, string?> DisplayNames, IReadOnlyDictionary<string, string?> Descriptions);

/// <summary>
/// The scopes and what people are told about them. API scopes are created when a client registered with them
/// (<see cref="ClientRegistry"/>); here an operator gives them a display name and a description, with variants per
/// language, which the consent page shows. The standard OpenID scopes' words ship with the server (the consent
/// page's resources) and can't be changed here. Every change commits with its scope.updated event.
/// </summary>
internal sealed partial class ScopeRegistry(
    IOpenIddictScopeManager scopes, OAuthDbContext db, Events.SecurityEvents events, IStringLocalizer<ConsentPage> shipped)
{
    public const int MaxDisplayNameLength = 100;
    public const int MaxDescriptionLength = 500;
    public const int MaxCultures = 20;

    public async Task<IReadOnlyList<ScopeView>> ListAsync(CancellationToken cancellationToken = default)
    {
        var views = StandardScopes.All.Select(Standard).ToList();
        await foreach (var row in scopes.ListAsync(count: null, offset: null, cancellationToken))
        {
            if (row is OpenIddictEntityFrameworkCoreScope { Name: { } name } scope && !StandardScopes.Contains(name))
            {
                views.Add(View(scope));
            }
        }

        return [.. views.OrderBy(view => !view.Standard).ThenBy(view => view.Name, StringComparer.Ordinal)];
    }

    public async Task<ScopeView?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        if (StandardScopes.Contains(name))
        {
            return Standard(name);
        }

        return await scopes.FindByNameAsync(name, cancellationToken) is OpenIddictEntityFrameworkCoreScope scope ? View(scope) : null;
    }

    /// <summary>Replaces an API scope's words (the default ones and every language's).</summary>
    public async Task<Outcome<ScopeView>> SetWordingAsync(ScopeWordingChange change, Events.RequestOrigin origin, CancellationToken cancellationToken = default)
    {
        if (StandardScopes.Contains(change.Name))
        {
            return Problem.Invalid("name", $"The words for the standard scope '{change.Name}' ship with the server (in English and German) and can't be changed.", "standard_scope");
        }

        var problems = Check(change);
        if (problems.Count > 0)
        {
            return Outcome<ScopeView>.Failed(problems);
        }

        if (await scopes.FindByNameAsync(change.Name, cancellationToken) is not OpenIddictEntityFrameworkCoreScope scope)
        {
            return Problem.NotFound($"There is no scope '{change.Name}'; an API scope exists once a client is registered with it.");
        }

        // Note: the row is written here rather than through OpenIddict's descriptor, whose languages are CultureInfo
        // objects: a server with InvariantGlobalization can't make one for "de", but it can store the tag, and the
        // consent page matches it where cultures are available. The concurrency token changes as OpenIddict's would.
        scope.DisplayName = Clean(change.DisplayName);
        scope.Description = Clean(change.Description);
        scope.DisplayNames = Json(change.DisplayNames);
        scope.Descriptions = Json(change.Descriptions);
        scope.ConcurrencyToken = Guid.NewGuid().ToString();
        if (db.Entry(scope).State == Microsoft.EntityFrameworkCore.EntityState.Detached)
        {
            db.Update(scope);
        }

        await db.InTransactionAsync(async () =>
        {
            events.Add(Events.SecurityEventTypes.ScopeUpdated, origin, data: new
            {
                scope = change.Name,
                cultures = change.DisplayNames.Keys.Union(change.Descriptions.Keys).Select(CanonicalTag).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray(),
            });
            await db.SaveChangesAsync(cancellationToken);
        }, cancellationToken);
        return View(scope);
    }

    /// <summary>Every rule the change breaks: bounded plain text, languages named as BCP 47 tags, default words first.</summary>
    public static List<Problem> Check(ScopeWordingChange change)
    {
        var problems = new List<Problem>();
        CheckText(problems, "display_name", change.DisplayName, MaxDisplayNameLength);
        CheckText(problems, "description", change.Description, MaxDescriptionLength);
        foreach (var (field, variants, limit) in new[]
        {
            ("display_names", change.DisplayNames, MaxDisplayNameLength),
            ("descriptions", change.Descriptions, MaxDescriptionLength),
        })
        {
            if (variants.Count > MaxCultures)
            {
                problems.Add(Problem.Invalid(field, $"{field} may name at most {MaxCultures} languages.", "too_many_" + field));
                continue;
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (culture, value) in variants)
            {
                if (IsCultureName(culture) && !seen.Add(CanonicalTag(culture)))
                {
                    problems.Add(Problem.Invalid($"{field}.{culture}", $"{field} names the language '{culture}' twice.", "duplicate_culture"));
                }
                else if (!IsCultureName(culture))
                {
                    problems.Add(Problem.Invalid($"{field}.{culture}", $"'{culture}' is not a language tag such as 'de' or 'pt-BR'.", "invalid_culture"));
                }
                else if (string.IsNullOrWhiteSpace(value))
                {
                    problems.Add(Problem.Invalid($"{field}.{culture}", $"{field} must not have an empty entry; leave the language out instead.", "null_entry"));
                }
                else
                {
                    CheckText(problems, $"{field}.{culture}", value, limit);
                }
            }
        }

        // Note: the default words are what a person sees when no language matches: without them, a variant or a
        // description would sit under a bare scope name.
        if (string.IsNullOrWhiteSpace(change.DisplayName) && (change.Description is not null || change.DisplayNames.Count > 0 || change.Descriptions.Count > 0))
        {
            problems.Add(Problem.Invalid("display_name", "Give a display_name (the words shown when no language matches) with a description or language variants."));
        }

        return problems;
    }

    /// <summary>A BCP 47 language tag of the usual shape: a language, then optional script, region or variant subtags.</summary>
    public static bool IsCultureName(string name) => CultureNamePattern().IsMatch(name);

    /// <summary>The tag as cultures spell it: language lower case, script title case, region upper case ("zh-Hant-TW").</summary>
    public static string CanonicalTag(string tag)
    {
        var parts = tag.Split('-');
        parts[0] = parts[0].ToLowerInvariant();
        for (var index = 1; index < parts.Length; index++)
        {
            parts[index] = parts[index].Length switch
            {
                2 => parts[index].ToUpperInvariant(),
                4 => char.ToUpperInvariant(parts[index][0]) + parts[index][1..].ToLowerInvariant(),
                _ => parts[index].ToLowerInvariant(),
            };
        }

        return string.Join('-', parts);
    }

    private static string? Json(IReadOnlyDictionary<string, string?> variants) =>
        variants.Count == 0 ? null : JsonSerializer.Serialize(variants.ToDictionary(pair => CanonicalTag(pair.Key), pair => Clean(pair.Value), StringComparer.Ordinal));

    private static void CheckText(List<Problem> problems, string field, string? value, int limit)
    {
        if (value is null)
        {
            return;
        }

        if (value.Trim().Length > limit)
        {
            problems.Add(Problem.Invalid(field, $"{field} must be at most {limit} characters."));
        }
        else if (value.Any(char.IsControl))
        {
            // Note: plain text for a page and a log line: no line breaks or control characters.
            problems.Add(Problem.Invalid(field, $"{field} must be plain text on one line."));
        }
    }

    private static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private ScopeView Standard(string name) => new(
        name, Standard: true, shipped[ScopeWording.Key(name, "Name")], shipped[ScopeWording.Key(name, "Description")],
        new Dictionary<string, string>(), new Dictionary<string, string>());

    // Note: read from the row's JSON, not through OpenIddict, which would parse the culture names (see above).
    private static ScopeView View(OpenIddictEntityFrameworkCoreScope scope) =>
        new(scope.Name!, Standard: false, scope.DisplayName, scope.Description, Variants(scope.DisplayNames), Variants(scope.Descriptions));

    private static Dictionary<string, string> Variants(string? json)
    {
        var variants = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(json))
        {
            return variants;
        }

        using var document = JsonDocument.Parse(json);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Value.ValueKind == JsonValueKind.String)
            {
                variants[property.Name] = property.Value.GetString()!;
            }
        }

        return variants;
    }

    [GeneratedRegex("^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")]
    private static partial Regex CultureNamePattern();
}
