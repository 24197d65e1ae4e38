using System.Net;
using OAuthServer.Html;
using OAuthServer.IntegrationTests.Infrastructure;
using OAuthServer.Protocol;

namespace OAuthServer.IntegrationTests.Pages;

/// <summary>Branding from settings and an overrides folder, on a server of its own.</summary>
public sealed class BrandingTests
{
    [Fact]
    public async Task Product_name_logo_colours_support_link_and_overrides_come_from_settings()
    {
        var folder = Directory.CreateTempSubdirectory("branding-").FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, PageOverrides.StylesheetFile), ".site-name { letter-spacing: .05em; }");
        await File.WriteAllTextAsync(Path.Combine(folder, PageOverrides.HeaderFile), "<nav aria-label=\"Acme\"><a href=\"https://acme.example/\">Acme home</a></nav>");
        await File.WriteAllTextAsync(Path.Combine(folder, PageOverrides.FooterFile), "<p>© Acme Corp</p>");
        await using var node = await CustomServer.StartAsync(new()
        {
            ["Branding:ProductName"] = "Acme Login",
            ["Branding:LogoUrl"] = "/assets/acme.png",
            ["Branding:PrimaryColor"] = "#7a1fa2",
            ["Branding:AccentColor"] = "#005f73",
            ["Branding:SupportUrl"] = "https://help.acme.example/",
            ["Branding:OverridesPath"] = folder,
        });
        using var api = node.CreateApiClient();

        var html = await (await api.GetAsync(ProtocolPaths.Login)).Content.ReadAsStringAsync();
        var css = await (await api.GetAsync(SiteAssets.StylesheetPath)).Content.ReadAsStringAsync();
        var overrides = await api.GetAsync(SiteAssets.OverridesPath);

        html.Should().Contain("<title>Sign in · Acme Login</title>").And.Contain("<span class=\"site-name\">Acme Login</span>");
        html.Should().Contain("<img src=\"/assets/acme.png\" alt=\"\">");
        html.Should().Contain("<a href=\"https://help.acme.example/\">Help and support</a>");
        html.Should().Contain("<nav aria-label=\"Acme\"><a href=\"https://acme.example/\">Acme home</a></nav>").And.Contain("<p>© Acme Corp</p>");
        html.Should().MatchRegex("<link rel=\"stylesheet\" href=\"/assets/overrides.css\\?v=[0-9a-f]{16}\">");
        css.Should().Contain("--primary: #7a1fa2").And.Contain("--accent: #005f73");
        overrides.StatusCode.Should().Be(HttpStatusCode.OK);
        overrides.Content.Headers.ContentType!.MediaType.Should().Be("text/css");
        (await overrides.Content.ReadAsStringAsync()).Should().Contain("letter-spacing");
    }

    [Fact]
    public async Task A_bad_colour_or_a_fragment_with_script_stops_the_server_at_start_up_saying_why()
    {
        var folder = Directory.CreateTempSubdirectory("branding-").FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, PageOverrides.FooterFile), "<p><a href=\"#\" onclick=\"steal()\">x</a></p>");

        var start = async () => await CustomServer.StartAsync(new()
        {
            ["Branding:PrimaryColor"] = "red",
            ["Branding:AccentColor"] = "#eeeeee",
            ["Branding:SupportUrl"] = "http://help.example/",
            ["Branding:OverridesPath"] = folder,
        });

        var failure = (await start.Should().ThrowAsync<Exception>()).Which.ToString();
        failure.Should().Contain("Branding:PrimaryColor must be a colour written as #rrggbb");
        failure.Should().Contain("Branding:AccentColor #eeeeee has a contrast of");
        failure.Should().Contain("Branding:SupportUrl must be an absolute https URL");
        failure.Should().Contain("footer.html: event handler attributes");
    }
}
