using System.Xml.Linq;

namespace OAuthServer.UnitTests.Accounts;

/// <summary>Every string of the reset pages and mail exists in English and German, with the same placeholders.</summary>
public sealed class RecoveryStringsTests
{
    public static TheoryData<string> Pages => ["ForgotPasswordPage", "ResetPasswordPage", "PasswordResetMail"];

    [Theory]
    [MemberData(nameof(Pages))]
    public void The_German_file_has_every_key_of_the_English_one_translated(string page)
    {
        var english = Strings(page + ".resx");
        var german = Strings(page + ".de.resx");

        german.Keys.Should().BeEquivalentTo(english.Keys);
        foreach (var (key, value) in english)
        {
            Placeholders(german[key]).Should().BeEquivalentTo(Placeholders(value), $"{page}:{key} keeps its placeholders");
            german[key].Should().NotBe(value, $"{page}:{key} is translated");
        }
    }

    private static Dictionary<string, string> Strings(string file) =>
        XDocument.Load(Path.Combine(Root(), "src", "OAuthServer", "Accounts", "Recovery", file)).Root!.Elements("data")
            .ToDictionary(data => (string)data.Attribute("name")!, data => (string)data.Element("value")!);

    private static List<string> Placeholders(string value) =>
        [.. System.Text.RegularExpressions.Regex.Matches(value, @"\{\d+\}").Select(match => match.Value).Order(StringComparer.Ordinal)];

    private static string Root()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "OAuthServer.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (OAuthServer.sln) is not above " + AppContext.BaseDirectory);
    }
}
