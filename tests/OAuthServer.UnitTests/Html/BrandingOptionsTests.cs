using OAuthServer.Html;

namespace OAuthServer.UnitTests.Html;

public sealed class BrandingOptionsTests
{
    [Theory]
    [InlineData("<script>alert(1)</script>", "<script>")]
    [InlineData("<SCRIPT src=x></SCRIPT>", "<script>")]
    [InlineData("<img src=x onerror=alert(1)>", "event handler")]
    [InlineData("<a href=\"javascript:alert(1)\">x</a>", "javascript:")]
    [InlineData("<a href=\"jav&#x61;script:alert(1)\">x</a>", "numeric character references")]
    [InlineData("<p style=\"color:red\">x</p>", "style attributes")]
    [InlineData("<iframe src=https://evil.example></iframe>", "<iframe>")]
    [InlineData("<form action=https://evil.example><input name=p></form>", "<form>")]
    [InlineData("<base href=https://evil.example/>", "<base>")]
    public void Header_fragments_that_could_run_script_or_take_the_forms_are_refused(string fragment, string reason)
    {
        var folder = Directory.CreateTempSubdirectory("overrides-").FullName;
        File.WriteAllText(Path.Combine(folder, PageOverrides.HeaderFile), fragment);

        var result = new BrandingOptionsValidator().Validate(null, new BrandingOptions { OverridesPath = folder });

        result.Failed.Should().BeTrue();
        result.FailureMessage.Should().Contain("header.html").And.Contain(reason);
    }

    [Fact]
    public void Plain_fragments_and_css_are_accepted()
    {
        var folder = Directory.CreateTempSubdirectory("overrides-").FullName;
        File.WriteAllText(Path.Combine(folder, PageOverrides.HeaderFile), "<nav aria-label=\"Company\"><a href=\"https://example.com/\">Home</a></nav>");
        File.WriteAllText(Path.Combine(folder, PageOverrides.FooterFile), "<p class=\"legal\">© Example, <a href=\"/privacy\">privacy</a></p>");
        File.WriteAllText(Path.Combine(folder, PageOverrides.StylesheetFile), "main { border-top: 4px solid #123456; }");

        new BrandingOptionsValidator().Validate(null, new BrandingOptions { OverridesPath = folder }).Succeeded.Should().BeTrue();
    }

    [Theory]
    [InlineData("#1f4fbf", true)]
    [InlineData("#000000", true)]
    [InlineData("#777777", false)] // 4.48:1 with white: just under AA
    [InlineData("#767676", true)]  // 4.54:1
    [InlineData("1f4fbf", false)]
    [InlineData("#1f4fb", false)]
    [InlineData("blue", false)]
    [InlineData("#1f4fbf; } body { display:none", false)]
    public void Colours_are_six_digit_hex_with_AA_contrast_against_white(string colour, bool valid)
    {
        var result = new BrandingOptionsValidator().Validate(null, new BrandingOptions { PrimaryColor = colour });

        result.Succeeded.Should().Be(valid, result.FailureMessage);
    }

    [Theory]
    [InlineData("https://cdn.example/logo.svg", true)]
    [InlineData("/assets/logo.png", true)]
    [InlineData("http://cdn.example/logo.svg", false)]
    [InlineData("//cdn.example/logo.svg", false)]
    [InlineData("/\\cdn.example/logo.svg", false)]
    [InlineData("javascript:alert(1)", false)]
    [InlineData("logo.png", false)]
    [InlineData("https://cdn.example/\"onerror=\"x", false)]
    public void Logo_urls_are_absolute_https_or_site_relative(string url, bool valid)
    {
        var result = new BrandingOptionsValidator().Validate(null, new BrandingOptions { LogoUrl = url });

        result.Succeeded.Should().Be(valid, result.FailureMessage);
    }

    [Fact]
    public void The_default_theme_meets_AA_contrast()
    {
        var defaults = new BrandingOptions();

        BrandingOptionsValidator.ContrastWithWhite(defaults.PrimaryColor).Should().BeGreaterThanOrEqualTo(4.5);
        BrandingOptionsValidator.ContrastWithWhite(defaults.AccentColor).Should().BeGreaterThanOrEqualTo(4.5);
        new BrandingOptionsValidator().Validate(null, defaults).Succeeded.Should().BeTrue();
    }
}
