using Microsoft.Extensions.Options;
using OAuthServer.Accounts;

namespace OAuthServer.UnitTests.Accounts;

public sealed class Argon2PasswordHasherTests
{
    private static Argon2PasswordHasher Hasher(int memoryKiB = 19 * 1024, int iterations = 2) =>
        new(Options.Create(new Argon2Options { MemoryKiB = memoryKiB, Iterations = iterations, Parallelism = 1 }));

    [Fact]
    public void Hash_is_a_self_describing_Argon2id_PHC_string_with_the_configured_parameters()
    {
        var hash = Hasher().Hash("correct horse battery");

        hash.Should().StartWith("$argon2id$v=19$m=19456,t=2,p=1$");
        hash.Split('$').Should().HaveCount(6);
    }

    [Fact]
    public void Each_hash_has_its_own_16_byte_salt()
    {
        var hasher = Hasher();

        var first = hasher.Hash("same password here");
        var second = hasher.Hash("same password here");

        first.Should().NotBe(second);
        var salt = first.Split('$')[4];
        Convert.FromBase64String(salt.PadRight(salt.Length + ((4 - (salt.Length % 4)) % 4), '=')).Should().HaveCount(16);
    }

    [Fact]
    public void Right_password_verifies_and_wrong_one_does_not()
    {
        var hasher = Hasher();
        var hash = hasher.Hash("the right password");

        hasher.Verify(hash, "the right password").Should().Be(PasswordCheck.Succeeded);
        hasher.Verify(hash, "the wrong password").Should().Be(PasswordCheck.Failed);
    }

    [Fact]
    public void Hash_made_with_weaker_parameters_asks_for_a_rehash()
    {
        var old = Hasher(iterations: 2).Hash("an older password");

        Hasher(iterations: 3).Verify(old, "an older password").Should().Be(PasswordCheck.SucceededRehashNeeded);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a hash")]
    [InlineData("$argon2id$v=19$m=19456,t=2,p=1$$")]
    [InlineData("$2b$12$abcdefghijklmnopqrstuu")]
    public void Corrupt_or_foreign_hash_fails_instead_of_throwing(string stored)
    {
        Hasher().Verify(stored, "whatever password").Should().Be(PasswordCheck.Failed);
    }
}
