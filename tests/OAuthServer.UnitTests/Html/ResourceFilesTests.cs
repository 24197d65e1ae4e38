using System.Text.RegularExpressions;

namespace OAuthServer.UnitTests.Html;

/// <summary>
/// Every page string exists in every language we ship: each English resource file of the server has a German one
/// with the same names, the same placeholders and a translated, non-empty value. Found by listing the files, so a
/// new page is covered the day it is added.
/// </summary>
public sealed partial class ResourceFilesTests
{
    // Note: words that are the same in both languages; anything else left in English is an untranslated string.
    private static readonly HashSet<string> SameInBothLanguages = new(["Passkey", "Passkeys", "E-Mail", "OK", "TOTP", "Code"], StringComparer.Ordinal);

    public static TheoryData<string> EnglishFiles
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var file in Directory.EnumerateFiles(RepositoryFiles.PathOf("src", "OAuthServer"), "*.resx", SearchOption.AllDirectories)
                         .Where(file => !file.EndsWith(".de.resx", StringComparison.Ordinal) && !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                         .Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetRelativePath(RepositoryFiles.Root, file));
            }

            return data;
        }
    }

    [Fact]
    public void The_pages_have_resource_files() => EnglishFiles.Count.Should().BeGreaterThan(10);

    [Theory]
    [MemberData(nameof(EnglishFiles))]
    public void The_German_file_has_every_string_of_the_English_one_translated_with_its_placeholders(string englishFile)
    {
        var germanFile = Path.ChangeExtension(RepositoryFiles.PathOf(englishFile), ".de.resx");
        File.Exists(germanFile).Should().BeTrue($"{englishFile} needs a German file");
        var english = RepositoryFiles.ResourceStrings(RepositoryFiles.PathOf(englishFile));
        var german = RepositoryFiles.ResourceStrings(germanFile);

        german.Keys.Should().BeEquivalentTo(english.Keys, englishFile);
        foreach (var (key, value) in english)
        {
            german[key].Should().NotBeNullOrWhiteSpace($"{englishFile}:{key}");
            Placeholders(german[key]).Should().BeEquivalentTo(Placeholders(value), $"{englishFile}:{key} keeps its placeholders");
            if (!SameInBothLanguages.Contains(value) && Letters().IsMatch(value))
            {
                german[key].Should().NotBe(value, $"{englishFile}:{key} is translated");
            }
        }
    }

    private static List<string> Placeholders(string value) =>
        [.. Placeholder().Matches(value).Select(match => match.Value).Order(StringComparer.Ordinal)];

    [GeneratedRegex(@"\{\d+(:[^}]*)?\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"\p{L}{2,}")]
    private static partial Regex Letters();
}
