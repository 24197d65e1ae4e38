namespace NativeClient;

/// <summary>
/// Keeps the refresh token between runs in a file only the user can read: the folder is 0700 and the file 0600,
/// written to a side file created with that mode and moved into place, so the token is never readable by others,
/// not even for a moment. (On Windows the file inherits the user profile's ACL.)
/// </summary>
internal sealed class RefreshTokenStore(string path)
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public string Path { get; } = path;

    /// <summary>The default place: the user's configuration folder (~/.config on Linux).</summary>
    public static string DefaultPath => System.IO.Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.Create),
        "oauthserver-native-sample", "refresh_token");

    public string? Load() => File.Exists(Path) ? File.ReadAllText(Path).Trim() is { Length: > 0 } token ? token : null : null;

    public void Save(string refreshToken)
    {
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path))!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, FolderMode);
        }

        var sideFile = Path + ".new";
        File.Delete(sideFile);
        var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }

        using (var stream = new FileStream(sideFile, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(refreshToken);
        }

        File.Move(sideFile, Path, overwrite: true);
    }

    public void Delete() => File.Delete(Path);
}
