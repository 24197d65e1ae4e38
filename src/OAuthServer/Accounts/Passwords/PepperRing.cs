using System.Text;
using Microsoft.Extensions.Options;

namespace OAuthServer.Accounts;

/// <summary>The peppers by version, read once at start-up. Version 0 means "no pepper".</summary>
internal sealed class PepperRing
{
    public const int MinimumPepperBytes = 16;

    public PepperRing(IOptions<Argon2Options> options)
    {
        var settings = options.Value;
        var current = Read(settings.Pepper, settings.PepperFile);
        CurrentVersion = current is null ? 0 : settings.PepperVersion;
        if (current is not null)
        {
            Peppers[CurrentVersion] = current;
        }

        foreach (var (version, value) in settings.PreviousPeppers)
        {
            Peppers.TryAdd(version, Encoding.UTF8.GetBytes(value));
        }

        foreach (var (version, file) in settings.PreviousPepperFiles)
        {
            Peppers.TryAdd(version, Read(null, file)!);
        }
    }

    public int CurrentVersion { get; }

    public Dictionary<int, byte[]> Peppers { get; } = [];

    public byte[]? Current => CurrentVersion == 0 ? null : Peppers[CurrentVersion];

    internal static byte[]? Read(string? value, string? file)
    {
        if (!string.IsNullOrEmpty(file))
        {
            // Note: a trailing newline from `echo > file` is not part of the secret.
            return Encoding.UTF8.GetBytes(File.ReadAllText(file).TrimEnd('\r', '\n'));
        }

        return string.IsNullOrEmpty(value) ? null : Encoding.UTF8.GetBytes(value);
    }
}
