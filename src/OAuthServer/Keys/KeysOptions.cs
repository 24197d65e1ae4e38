using Microsoft.Extensions.Options;

namespace OAuthServer.Keys;

/// <summary>The <c>Keys</c> section: where the signing and encryption keys are mounted.</summary>
internal sealed class KeysOptions
{
    public const string Section = "Keys";

    /// <summary>
    /// A folder with <c>signing/</c> and <c>encryption/</c> sub-folders of PKCS#8 PEM keys (RSA, or EC P-256 for
    /// ES256 signing keys), each optionally with a <c>.json</c> sidecar (kid, alg, activation, expiry, retirement). In Development it defaults to
    /// <c>data/keys</c> and missing keys are generated there.
    /// </summary>
    public string? Path { get; set; }

    /// <summary>How often a running node looks at the folder (and at the clock) for key changes.</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Outside Development, keys must be mounted; a missing key stops start-up with the folder it expected.</summary>
internal sealed class KeysOptionsValidator(IHostEnvironment environment) : IValidateOptions<KeysOptions>
{
    public ValidateOptionsResult Validate(string? name, KeysOptions options)
    {
        if (options.ReloadInterval < TimeSpan.FromMilliseconds(100))
        {
            return ValidateOptionsResult.Fail("Keys:ReloadInterval must be at least 00:00:00.1.");
        }

        if (environment.IsDevelopment())
        {
            return ValidateOptionsResult.Success;
        }

        var problems = KeyRing.Problems(options.Path).ToList();
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
