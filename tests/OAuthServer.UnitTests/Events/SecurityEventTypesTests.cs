using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using OAuthServer.Events;

namespace OAuthServer.UnitTests.Events;

/// <summary>The event types the code records, the JSON schema and the README's list stay one and the same set.</summary>
public sealed partial class SecurityEventTypesTests
{
    private static readonly string Root = RepositoryFiles.Root;

    private static List<string> CodeTypes { get; } = typeof(SecurityEventTypes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(field => field.IsLiteral)
        .Select(field => (string)field.GetRawConstantValue()!)
        .ToList();

    [Fact]
    public void The_schema_enumerates_exactly_the_types_the_code_records()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "docs", "security-event.schema.json")));
        var types = schema.RootElement.GetProperty("properties").GetProperty("type").GetProperty("enum")
            .EnumerateArray().Select(item => item.GetString()!).ToList();

        types.Should().BeEquivalentTo(CodeTypes);
    }

    [Fact]
    public void The_README_lists_exactly_the_types_the_code_records()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        var paragraph = readme[readme.IndexOf("**Security events.**", StringComparison.Ordinal)..];
        paragraph = paragraph[..paragraph.IndexOf("\n\n", StringComparison.Ordinal)];
        var listed = EventType().Matches(paragraph).Select(match => match.Groups["type"].Value).ToList();

        listed.Should().BeEquivalentTo(CodeTypes);
    }

    [GeneratedRegex(@"`(?<type>[a-z_]+\.[a-z_]+)`")]
    private static partial Regex EventType();
}
