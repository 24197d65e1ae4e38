using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OAuthServer.Accounts;
using OAuthServer.Observability;
using OAuthServer.Security;

namespace OAuthServer.UnitTests.Accounts;

public sealed class Argon2PasswordHasherTests
{
    private const string PepperOne = "pepper-version-one-0123456789";
    private const string PepperTwo = "pepper-version-two-9876543210";

    internal static Argon2PasswordHasher Hasher(int iterations = 2, string? pepper = null, int pepperVersion = 1, Dictionary<int, string>? previous = null)
    {
        var options = Options.Create(new Argon2Options
        {
            Iterations = iterations,
            Pepper = pepper,
            PepperVersion = pepperVersion,
            PreviousPeppers = previous ?? [],
        });
        var metrics = new OAuthMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
        var limiter = new PasswordHashLimiter(Options.Create(new HashLimiterOptions()), metrics);
        return new(options, new PepperRing(options), limiter);
    }

    [Fact]
    public async Task Hash_is_a_self_describing_Argon2id_PHC_string_with_the_configured_parameters()
    {
        var hash = await Hasher().HashAsync("correct horse battery");

        hash.Should().StartWith("$argon2id$v=19$m=19456,t=2,p=1$");
        hash.Split('$').Should().HaveCount(6);
    }

    [Fact]
    public async Task Peppered_hash_names_its_pepper_version()
    {
        var hash = await Hasher(pepper: PepperOne, pepperVersion: 7).HashAsync("correct horse battery");

        hash.Should().StartWith("$argon2id$v=19$m=19456,t=2,p=1,pv=7$");
    }

    [Fact]
    public async Task Each_hash_has_its_own_16_byte_salt()
    {
        var hasher = Hasher();

        var first = await hasher.HashAsync("same password here");
        var second = await hasher.HashAsync("same password here");

        first.Should().NotBe(second);
        var salt = first.Split('$')[4];
        Convert.FromBase64String(salt.PadRight(salt.Length + ((4 - (salt.Length % 4)) % 4), '=')).Should().HaveCount(16);
    }

    [Fact]
    public async Task Right_password_verifies_and_wrong_one_does_not()
    {
        var hasher = Hasher();
        var hash = await hasher.HashAsync("the right password");

        (await hasher.VerifyAsync(hash, "the right password")).Should().Be(PasswordCheck.Succeeded);
        (await hasher.VerifyAsync(hash, "the wrong password")).Should().Be(PasswordCheck.Failed);
    }

    [Fact]
    public async Task Hash_from_the_Isopoh_reference_encoder_verifies()
    {
        // Interoperability: a plain PHC string from the library's own encoder is read by our parser.
        var reference = Isopoh.Cryptography.Argon2.Argon2.Hash("interop password", timeCost: 2, memoryCost: 19456, parallelism: 1);

        (await Hasher().VerifyAsync(reference, "interop password")).Should().Be(PasswordCheck.Succeeded);
    }

    [Fact]
    public async Task Composed_and_decomposed_forms_of_a_password_verify_alike()
    {
        var hasher = Hasher();
        var hash = await hasher.HashAsync("caf\u00e9 au lait, s'il vous pla\u00eet");

        (await hasher.VerifyAsync(hash, "cafe\u0301 au lait, s'il vous plai\u0302t")).Should().Be(PasswordCheck.Succeeded);
    }

    [Fact]
    public async Task Hash_made_with_weaker_parameters_asks_for_a_rehash()
    {
        var old = await Hasher(iterations: 2).HashAsync("an older password");

        (await Hasher(iterations: 3).VerifyAsync(old, "an older password")).Should().Be(PasswordCheck.SucceededRehashNeeded);
    }

    [Fact]
    public async Task Pepper_matters_the_same_password_under_another_pepper_fails()
    {
        var hash = await Hasher(pepper: PepperOne).HashAsync("a peppered password");

        (await Hasher(pepper: PepperTwo).VerifyAsync(hash, "a peppered password")).Should().Be(PasswordCheck.Failed);
    }

    [Fact]
    public async Task Hash_with_a_previous_pepper_still_verifies_and_asks_for_a_rehash()
    {
        var old = await Hasher(pepper: PepperOne, pepperVersion: 1).HashAsync("a rotated password");
        var rotated = Hasher(pepper: PepperTwo, pepperVersion: 2, previous: new() { [1] = PepperOne });

        (await rotated.VerifyAsync(old, "a rotated password")).Should().Be(PasswordCheck.SucceededRehashNeeded);
        (await rotated.VerifyAsync(await rotated.HashAsync("a rotated password"), "a rotated password")).Should().Be(PasswordCheck.Succeeded);
    }

    [Fact]
    public async Task Hash_whose_pepper_was_dropped_never_verifies()
    {
        var old = await Hasher(pepper: PepperOne, pepperVersion: 1).HashAsync("a forgotten pepper");

        (await Hasher(pepper: PepperTwo, pepperVersion: 2).VerifyAsync(old, "a forgotten pepper")).Should().Be(PasswordCheck.Failed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a hash")]
    [InlineData("$argon2id$v=19$m=19456,t=2,p=1$$")]
    [InlineData("$argon2id$v=19$m=19456,t=2,p=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")]
    [InlineData("$argon2id$v=19$m=999999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")]
    [InlineData("$2b$12$abcdefghijklmnopqrstuu")]
    public async Task Corrupt_or_foreign_hash_fails_instead_of_throwing(string stored)
    {
        (await Hasher().VerifyAsync(stored, "whatever password")).Should().Be(PasswordCheck.Failed);
    }
}
