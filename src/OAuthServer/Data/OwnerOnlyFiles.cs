namespace OAuthServer.Data;

/// <summary>
/// Files and folders that hold secrets (the SQLite database, key files) are created readable by their owner only:
/// threat model "DB compromise": another local account must not be able to copy them.
/// </summary>
internal static class OwnerOnlyFiles
{
    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates a folder and its missing parents, each missing level 0700; existing ones stay as they are.</summary>
    public static void CreateDirectory(string folder)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
            return;
        }

        var missing = new Stack<string>();
        for (var level = Path.GetFullPath(folder); !string.IsNullOrEmpty(level) && !Directory.Exists(level); level = Path.GetDirectoryName(level))
        {
            missing.Push(level);
        }

        foreach (var level in missing)
        {
            Directory.CreateDirectory(level, FolderMode);
        }
    }

    /// <summary>
    /// Makes sure <paramref name="file"/> exists and only its owner can read or write it: created empty with 0600 when
    /// missing, and an existing file readable by others is narrowed to 0600.
    /// </summary>
    public static void EnsureFile(string file)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        try
        {
            using var created = new FileStream(file, new FileStreamOptions
            {
                Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = FileMode,
            });
        }
        catch (IOException) when (File.Exists(file))
        {
            if ((File.GetUnixFileMode(file) & ~FileMode) != 0)
            {
                File.SetUnixFileMode(file, FileMode);
            }
        }
    }
}
