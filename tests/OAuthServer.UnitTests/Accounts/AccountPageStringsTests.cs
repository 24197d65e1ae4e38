using System.Reflection;
using OAuthServer.Events;

namespace OAuthServer.UnitTests.Accounts;

/// <summary>The account page names events in words: every one it names is a real type.</summary>
public sealed class AccountPageStringsTests
{
    private static readonly string Folder = RepositoryFiles.PathOf("src", "OAuthServer", "Accounts", "Self");

    [Fact]
    public void Every_event_type_named_in_words_is_one_the_code_records()
    {
        var types = typeof(SecurityEventTypes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(field => field.IsLiteral).Select(field => (string)field.GetRawConstantValue()!).ToHashSet();

        var named = Strings("AccountPage.resx").Keys.Where(key => key.StartsWith("Event_", StringComparison.Ordinal)).Select(key => key["Event_".Length..]).ToList();

        named.Should().NotBeEmpty().And.OnlyContain(type => types.Contains(type));
        named.Should().Contain([SecurityEventTypes.LoginSucceeded, SecurityEventTypes.LoginFailed, SecurityEventTypes.AccountLocked, SecurityEventTypes.PasswordChanged]);
    }

    private static Dictionary<string, string> Strings(string file) => RepositoryFiles.ResourceStrings(Path.Combine(Folder, file));
}
