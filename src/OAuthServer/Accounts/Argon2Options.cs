using System.ComponentModel.DataAnnotations;

namespace OAuthServer.Accounts;

/// <summary>
/// The <c>Argon2</c> section. The defaults are OWASP's minimum for Argon2id (19 MiB, t=2, p=1); the
/// <c>argon2 calibrate</c> verb finds stronger values for a given machine.
/// </summary>
internal sealed class Argon2Options
{
    public const string Section = "Argon2";

    [Range(19 * 1024, 4 * 1024 * 1024)]
    public int MemoryKiB { get; set; } = 19 * 1024;

    [Range(2, 64)]
    public int Iterations { get; set; } = 2;

    [Range(1, 16)]
    public int Parallelism { get; set; } = 1;
}
