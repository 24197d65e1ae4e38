using System.Security.Cryptography;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OAuthServer.Accounts.Factors;

namespace OAuthServer.IntegrationTests.Accounts;

/// <summary>The second-factor key: checked at start-up, and rotated without losing what the old key sealed.</summary>
public sealed class TotpKeyTests
{
    private static readonly string KeyOne = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private static readonly string KeyTwo = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    [Fact]
    public void Outside_Development_a_required_second_factor_without_a_key_stops_start_up()
    {
        var result = Validator("Production", SecondFactorRequirement.Administrators).Validate(null, new FactorSecretOptions());

        result.Failed.Should().BeTrue();
        result.FailureMessage.Should().Contain("SecondFactors:SecretKey");
    }

    [Fact]
    public void Outside_Development_no_key_and_no_requirement_starts_without_TOTP()
    {
        Validator("Production", SecondFactorRequirement.None).Validate(null, new FactorSecretOptions()).Succeeded.Should().BeTrue();
        Ring(new FactorSecretOptions()).Available.Should().BeFalse("TOTP and recovery codes are then not offered");
    }

    [Theory]
    [InlineData("c2hvcnQ=")]
    [InlineData("not base64 at all")]
    public void A_key_that_is_not_32_bytes_of_base64_stops_start_up(string key) =>
        Validator("Production", SecondFactorRequirement.None).Validate(null, new FactorSecretOptions { SecretKey = key }).Failed.Should().BeTrue();

    [Fact]
    public void A_new_key_id_that_reuses_a_previous_one_stops_start_up() =>
        Validator("Production", SecondFactorRequirement.None)
            .Validate(null, new FactorSecretOptions { SecretKey = KeyTwo, SecretKeyId = "1", PreviousSecretKeys = { ["1"] = KeyOne } })
            .Failed.Should().BeTrue();

    [Fact]
    public void After_a_rotation_old_secrets_open_and_old_recovery_codes_match_while_new_ones_use_the_new_key()
    {
        var user = Guid.NewGuid();
        var before = Ring(new FactorSecretOptions { SecretKey = KeyOne, SecretKeyId = "1" });
        var secret = RandomNumberGenerator.GetBytes(20);
        var sealedBefore = before.Seal(user, secret);
        var hashBefore = before.HashRecoveryCode(user, "0123456789ab");

        var after = Ring(new FactorSecretOptions { SecretKey = KeyTwo, SecretKeyId = "2", PreviousSecretKeys = { ["1"] = KeyOne } });

        after.CurrentKeyId.Should().Be("2");
        after.Open(user, "1", sealedBefore).Should().Equal(secret);
        after.RecoveryCodeCandidates(user, "0123456789ab").Should().ContainEquivalentOf(hashBefore);
        after.HashRecoveryCode(user, "0123456789ab").Should().NotEqual(hashBefore);
        after.Open(user, "2", sealedBefore).Should().BeNull("the key id is part of what was sealed");
        after.Open(Guid.NewGuid(), "1", sealedBefore).Should().BeNull("a sealed secret belongs to one user");
        var tampered = (byte[])sealedBefore.Clone();
        tampered[^1] ^= 1;
        after.Open(user, "1", tampered).Should().BeNull();
        Ring(new FactorSecretOptions { SecretKey = KeyTwo, SecretKeyId = "2" }).Open(user, "1", sealedBefore).Should().BeNull("a dropped key opens nothing");
    }

    private static FactorSecretOptionsValidator Validator(string environment, SecondFactorRequirement require) =>
        new(new Environment(environment), Options.Create(new SecondFactorOptions { Require = require }));

    private static FactorSecrets Ring(FactorSecretOptions options) =>
        new(Options.Create(options), new Environment("Production"), null!, NullLogger<FactorSecrets>.Instance);

    private sealed class Environment(string name) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = name;

        public string ApplicationName { get; set; } = "OAuthServer";

        public string ContentRootPath { get; set; } = AppContext.BaseDirectory;

        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }
}
