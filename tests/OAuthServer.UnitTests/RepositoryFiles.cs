using System.Xml.Linq;

namespace OAuthServer.UnitTests;

/// <summary>Files of the repository the tests read as text: docs, resource files, alert rules.</summary>
internal static class RepositoryFiles
{
    /// <summary>The folder holding OAuthServer.sln, found upwards from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>The name → value strings of a .resx file.</summary>
    public static Dictionary<string, string> ResourceStrings(string file) =>
        XDocument.Load(file).Root!.Elements("data")
            .ToDictionary(data => (string)data.Attribute("name")!, data => (string)data.Element("value")!);

    private static string FindRoot()
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
