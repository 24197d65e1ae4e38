using OAuthServer.Data;
using OAuthServer.Keys;

namespace OAuthServer.IntegrationTests.Infrastructure;

/// <summary>
/// The key folder a Development start makes for itself (a signing key, an encryption key and the Data Protection
/// certificate), made once per test run and copied into the folder of each in-process Development server.
/// </summary>
/// <remarks>
/// Note: three fresh RSA keys (two of 3072 bits) cost seconds of CPU on a busy machine, at every one of the suite's
/// server starts. Each server still gets a folder of its own, so a test that adds, retires or breaks keys changes
/// only its server's; tests about what the server makes on an empty folder run the binary on an empty folder.
/// </remarks>
internal static class DevelopmentKeys
{
    private static readonly Lazy<string> Kit = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    public static void CopyTo(string keysPath) => Copy(Kit.Value, keysPath);

    private static string Create()
    {
        var folder = Path.Combine(Directory.CreateTempSubdirectory("oauth-dev-keys-").FullName, "keys");
        _ = new KeyRing(folder, generateMissing: true);
        DataProtectionKeyring.CreateCertificate(Path.Combine(folder, DataProtectionKeyring.Folder));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
        return folder;
    }

    private static void Copy(string from, string to)
    {
        OwnerOnlyFiles.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var folder in Directory.GetDirectories(from))
        {
            Copy(folder, Path.Combine(to, Path.GetFileName(folder)));
        }
    }
}
