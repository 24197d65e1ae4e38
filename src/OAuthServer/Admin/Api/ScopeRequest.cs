using System.Text.Json.Serialization;

namespace OAuthServer.Admin;

/// <summary>The JSON body of <c>PUT /admin/scopes/{name}</c>: the words the consent page shows for an API scope.</summary>
internal sealed class ScopeRequest
{
    /// <summary>A short name, shown when no language variant matches ("Read your invoices").</summary>
    [JsonPropertyName("display_name")]
    public string? DisplayName { get; set; }

    /// <summary>One sentence on what the app can do with it.</summary>
    [JsonPropertyName("description")]
    public string? Description { get; set; }

    /// <summary>Per language, keyed by a BCP 47 tag ("de", "fr-CA").</summary>
    [JsonPropertyName("display_names")]
    public Dictionary<string, string?>? DisplayNames { get; set; }

    [JsonPropertyName("descriptions")]
    public Dictionary<string, string?>? Descriptions { get; set; }

    public ScopeWordingChange ToChange(string name) => new(name, DisplayName, Description, DisplayNames ?? [], Descriptions ?? []);
}
