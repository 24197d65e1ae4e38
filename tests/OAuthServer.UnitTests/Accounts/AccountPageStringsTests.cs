using System.Reflection;
using System.Xml.Linq;
using OAuthServer.Events;

namespace OAuthServer.UnitTests.Accounts;

/// <summary>The account page's strings: every English string has its German one, and every event it names is a real type.</summary>
public sealed class AccountPageStringsTests
{
    private static readonly string Folder = Path.Combine(RepositoryRoot(), "src", "OAuthServer", "Accounts", "Self");

    [Fact]
    public void German_has_exactly_the_English_keys_and_no_empty_value()
    {
        var english = Strings("AccountPage.resx");
        var german = Strings("AccountPage.de.resx");

        german.Keys.Should().BeEquivalentTo(english.Keys);
        german.Values.Concat(english.Values).Should().NotContain(string.Empty);
        german.Where(pair => pair.Value == english[pair.Key]).Should().BeEmpty("German is not English copied over");
    }

    [Fact]
    public void Every_event_type_named_in_words_is_one_the_code_records()
    {
        var types = typeof(SecurityEventTypes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(field => field.IsLiteral).Select(field => (string)field.GetRawConstantValue()!).ToHashSet();

        var named = Strings("AccountPage.resx").Keys.Where(key => key.StartsWith("Event_", StringComparison.Ordinal)).Select(key => key["Event_".Length..]).ToList();

        named.Should().NotBeEmpty().And.OnlyContain(type => types.Contains(type));
        named.Should().Contain([SecurityEventTypes.LoginSucceeded, SecurityEventTypes.LoginFailed, SecurityEventTypes.AccountLocked, SecurityEventTypes.PasswordChanged]);
    }

    private static Dictionary<string, string> Strings(string file) =>
        XDocument.Load(Path.Combine(Folder, file)).Root!.Elements("data")
            .ToDictionary(data => (string)data.Attribute("name")!, data => (string)data.Element("value")!);

    private static string RepositoryRoot()
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
