using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Localization;
using OAuthServer.Html;
using OAuthServer.Protocol;
using OpenIddict.Abstractions;

namespace OAuthServer.Accounts;

/// <summary>A scope as a person reads it: a short name and a sentence, or its bare name when nothing describes it.</summary>
internal sealed record ScopeText(string Name, string DisplayName, string Description, bool Described);

/// <summary>
/// The words for scopes, in the current UI culture: the standard OpenID scopes from the consent page's resources
/// (they ship with the server), API scopes from their scope rows (display name and description, with per-culture
/// variants, set by the operator through the admin API or the CLI).
/// </summary>
internal sealed class ScopeWording(IOpenIddictScopeManager scopes, IStringLocalizer<ConsentPage> text)
{
    /// <summary>The resource key of a standard scope's display name or description.</summary>
    public static string Key(string scope, string part) => $"Scope_{scope}_{part}";

    /// <summary>
    /// The list of scopes a page asks a person about (the consent and device pages): each by its words, and an
    /// undescribed one by its bare name, marked so.
    /// </summary>
    public static void AppendList(StringBuilder body, IReadOnlyList<ScopeText> scopes, string labelledBy)
    {
        body.Append($"<ul class=\"scopes\" aria-labelledby=\"{labelledBy}\">");
        foreach (var scope in scopes)
        {
            var css = scope.Described ? "scope" : "scope undescribed";
            body.Append($"<li class=\"{css}\" data-scope=\"{HtmlPage.Encode(scope.Name)}\"><strong>{HtmlPage.Encode(scope.DisplayName)}</strong>");
            if (scope.Description.Length > 0)
            {
                body.Append($"<br><span>{HtmlPage.Encode(scope.Description)}</span>");
            }

            body.Append("</li>");
        }

        body.Append("</ul>");
    }

    public async Task<IReadOnlyList<ScopeText>> DescribeAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken)
    {
        var culture = CultureInfo.CurrentUICulture;
        var rows = new Dictionary<string, object>(StringComparer.Ordinal);
        var api = names.Where(name => !StandardScopes.Contains(name)).Distinct(StringComparer.Ordinal).ToImmutableArray();
        if (api.Length > 0)
        {
            await foreach (var row in scopes.FindByNamesAsync(api, cancellationToken))
            {
                if (await scopes.GetNameAsync(row, cancellationToken) is { } name)
                {
                    rows[name] = row;
                }
            }
        }

        var described = new List<ScopeText>(names.Count);
        foreach (var name in names.Distinct(StringComparer.Ordinal))
        {
            if (StandardScopes.Contains(name))
            {
                described.Add(new ScopeText(name, text[Key(name, "Name")], text[Key(name, "Description")], Described: true));
                continue;
            }

            var displayName = rows.TryGetValue(name, out var row) ? await LocalizedAsync(scopes.GetLocalizedDisplayNameAsync, scopes.GetDisplayNameAsync, row, culture, cancellationToken) : null;
            var description = row is not null ? await LocalizedAsync(scopes.GetLocalizedDescriptionAsync, scopes.GetDescriptionAsync, row, culture, cancellationToken) : null;
            // Note: a scope nobody described is shown by its name and said to be undescribed, never left out: the
            // person must see everything they are asked to allow.
            described.Add(string.IsNullOrWhiteSpace(displayName)
                ? new ScopeText(name, name, text["UnknownScope", name], Described: false)
                : new ScopeText(name, displayName, description ?? string.Empty, Described: true));
        }

        return described;
    }

    // Note: OpenIddict parses the stored culture names; one it can't read (InvariantGlobalization with predefined
    // cultures only) must not break the consent page, so the invariant wording is used instead.
    private static async ValueTask<string?> LocalizedAsync(
        Func<object, CultureInfo, CancellationToken, ValueTask<string?>> localized, Func<object, CancellationToken, ValueTask<string?>> invariant,
        object row, CultureInfo culture, CancellationToken cancellationToken)
    {
        try
        {
            return await localized(row, culture, cancellationToken);
        }
        catch (CultureNotFoundException)
        {
            return await invariant(row, cancellationToken);
        }
    }
}
