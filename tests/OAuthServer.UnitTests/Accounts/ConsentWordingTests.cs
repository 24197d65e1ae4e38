using System.Globalization;
using Microsoft.Extensions.Localization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OAuthServer.Accounts;
using OAuthServer.Admin;
using OAuthServer.Protocol;

namespace OAuthServer.UnitTests.Accounts;

/// <summary>
/// The consent page's words: every standard scope is described in English and German, the two resource files name
/// the same strings, and offline_access says plainly what it allows. Also the rules for an operator's scope words
/// and for a client's logo and home page.
/// </summary>
public sealed class ConsentWordingTests
{
    private static readonly IStringLocalizer Text = new ResourceManagerStringLocalizerFactory(
        Options.Create(new LocalizationOptions()), NullLoggerFactory.Instance).Create(typeof(ConsentPage));

    [Fact]
    public void Every_standard_scope_has_a_name_and_a_description_in_English_and_in_German()
    {
        foreach (var scope in StandardScopes.All)
        {
            var english = In("en", () => (Text[ScopeWording.Key(scope, "Name")], Text[ScopeWording.Key(scope, "Description")]));
            var german = In("de", () => (Text[ScopeWording.Key(scope, "Name")], Text[ScopeWording.Key(scope, "Description")]));

            foreach (var text in new[] { english.Item1, english.Item2, german.Item1, german.Item2 })
            {
                text.ResourceNotFound.Should().BeFalse($"{text.Name} must exist");
                text.Value.Should().NotBeNullOrWhiteSpace().And.NotBe(scope, "a person reads words, not the scope's name");
            }

            german.Item1.Value.Should().NotBe(english.Item1.Value, $"{scope} is translated");
            german.Item2.Value.Should().NotBe(english.Item2.Value, $"{scope} is translated");
        }
    }

    [Fact]
    public void Offline_access_says_that_the_app_stays_signed_in_when_you_are_not_using_it()
    {
        In("en", () => Text[ScopeWording.Key("offline_access", "Name")].Value).Should().Be("Stay signed in");
        In("en", () => Text[ScopeWording.Key("offline_access", "Description")].Value).Should().Contain("stays signed in").And.Contain("not using it");
        In("de-AT", () => Text[ScopeWording.Key("offline_access", "Name")].Value).Should().Be("Angemeldet bleiben", "a regional culture falls back to its language");
        In("en", () => Text[ScopeWording.Key("openid", "Description")].Value).Should().NotContainAny("access your account", "full access");
    }

    [Theory]
    [InlineData("https://cdn.example/logo.png", false, null)]
    [InlineData("http://127.0.0.1:5000/logo.png", true, null)]
    [InlineData("http://cdn.example/logo.png", false, "must use https")]
    [InlineData("javascript:alert(1)", true, "absolute URL")]
    [InlineData("ftp://cdn.example/logo.png", true, "must use https or http")]
    [InlineData("data:image/png;base64,AAAA", true, "absolute URL")]
    [InlineData("//cdn.example/logo.png", true, "absolute URL")]
    [InlineData("https://user:secret@cdn.example/logo.png", false, "credentials or a fragment")]
    [InlineData("https://cdn.example/logo.png#x", false, "credentials or a fragment")]
    [InlineData("https://cdn.example/logo\n.png", false, "absolute URL")]
    public void A_logo_or_home_page_is_absolute_https_without_credentials_or_fragment(string value, bool development, string? problem)
    {
        var found = ClientRules.PresentationUriProblem("logo_uri", value, development);

        if (problem is null)
        {
            found.Should().BeNull();
        }
        else
        {
            found.Should().Contain(problem);
        }
    }

    [Fact]
    public void A_logo_uri_is_bounded_and_checked_by_the_client_rules()
    {
        var problems = ClientRules.Check(new ClientRegistration
        {
            ClientId = "presentation-test",
            Kind = ClientKind.Public,
            RedirectUris = ["https://app.example/cb"],
            LogoUri = "https://cdn.example/" + new string('a', ClientRules.MaxPresentationUriLength),
            ClientUri = "javascript:alert(1)",
        });

        problems.Select(problem => problem.Field).Should().BeEquivalentTo(["logo_uri", "client_uri"]);
    }

    [Theory]
    [InlineData("de", true)]
    [InlineData("pt-BR", true)]
    [InlineData("zh-Hant-TW", true)]
    [InlineData("", false)]
    [InlineData("not a language", false)]
    [InlineData("de_DE", false)]
    [InlineData("x", false)]
    public void Scope_word_languages_are_language_tags(string culture, bool valid) => ScopeRegistry.IsCultureName(culture).Should().Be(valid);

    [Theory]
    [InlineData("DE", "de")]
    [InlineData("pt-br", "pt-BR")]
    [InlineData("ZH-HANT-tw", "zh-Hant-TW")]
    public void Scope_word_languages_are_stored_as_cultures_spell_them(string tag, string stored) => ScopeRegistry.CanonicalTag(tag).Should().Be(stored);

    [Fact]
    public void Scope_words_are_bounded_one_line_text_with_default_words_first()
    {
        static List<string?> Fields(string? name, string? description, Dictionary<string, string?>? names = null) =>
            [.. ScopeRegistry.Check(new ScopeWordingChange("api", name, description, names ?? [], new Dictionary<string, string?>())).Select(problem => problem.Field)];

        Fields("Read your invoices", "See your invoices.", new() { ["de"] = "Ihre Rechnungen lesen" }).Should().BeEmpty();
        Fields(new string('x', ScopeRegistry.MaxDisplayNameLength + 1), null).Should().Equal("display_name");
        Fields("Line\u0007bell", null).Should().Equal("display_name");
        Fields(null, "A description without a name").Should().Equal("display_name");
        Fields("Ok", null, new() { ["de"] = " " }).Should().Equal("display_names.de");
        Fields("Ok", null, new() { ["de"] = "Eins", ["DE"] = "Zwei" }).Should().ContainSingle().Which.Should().StartWith("display_names.");
        Fields("Ok", null, Enumerable.Range(0, ScopeRegistry.MaxCultures + 1).ToDictionary(index => $"x{index:D2}", _ => (string?)"x"))
            .Should().Equal("display_names");
    }

    private static T In<T>(string culture, Func<T> read)
    {
        var previous = CultureInfo.CurrentUICulture;
        CultureInfo.CurrentUICulture = CultureInfo.GetCultureInfo(culture);
        try
        {
            return read();
        }
        finally
        {
            CultureInfo.CurrentUICulture = previous;
        }
    }
}
