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

    internal static Argon2PasswordHasher Hasher(int iterations = 2, string? pepper = null, int pepperVersion = 1, Dictionary<int, string>? previous = null, int parallelism = 1)
    {
        var options = Options.Create(new Argon2Options
        {
            Iterations = iterations,
            Parallelism = parallelism,
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

    // Made by the server's previous Argon2 path (Isopoh.Cryptography.Argon2 2.0.0, through this class): stored
    // hashes like these must keep verifying, with their pepper versions, lanes and NFKC-normalised passwords.
    [Theory]
    [InlineData("correct horse battery staple", "$argon2id$v=19$m=19456,t=2,p=1$pZoK29W+4hLyP14P/N1Wrw$RngzMx9cU83lipRSsVCkmRgNun0EjA5nazAwnIgqJoE", false)]
    [InlineData("correct horse battery staple", "$argon2id$v=19$m=19456,t=2,p=1,pv=1$UGpYA5cbWdz6L09pElFyPg$SSShytCUiCqKY/55o1YoNY/UWq8Ewxp47G/t3h+jVfA", false)]
    [InlineData("caf\u00e9 au lait \ufb01ne", "$argon2id$v=19$m=19456,t=3,p=1,pv=2$fS4r2XwtIjYsDZOGWTHRwg$qvMaaKzc2vxc7x1EAWet9J6PRc/l0ZfA94qY2WDHM9g", true)]
    [InlineData("two lanes of password", "$argon2id$v=19$m=19456,t=2,p=2$tGYcKMKH8jOxROFExR6kYQ$mZoGollOQGNaO0N5cqGmaZStTOZgd+KCKB4wPoc2ToM", false)]
    [InlineData("three lanes, m not a multiple of 12", "$argon2id$v=19$m=20000,t=2,p=3,pv=7$fDdK9SKUvbe8xqCm49/dGw$ghXBvdN41BXJa98n7/1ANv8W818vy/uPhs58zVydEWY", false)]
    [InlineData("\u2460\u2461\u2462 circled digits and emoji \U0001F511", "$argon2id$v=19$m=24576,t=4,p=4$zpmZa3HY1nDR8CUr8bhRaQ$qsgd0a3ddOaxD+yvxGK2ZnZp+QbJhkDecWY+TYQ08tY", false)]
    public async Task Hashes_stored_by_the_previous_Argon2_library_verify_unchanged(string password, string stored, bool current)
    {
        var hasher = Hasher(pepper: PepperTwo, pepperVersion: 2, previous: new() { [1] = PepperOne, [7] = PepperOne });

        (await hasher.VerifyAsync(stored, password)).Should().Be(current ? PasswordCheck.Succeeded : PasswordCheck.SucceededRehashNeeded);
        (await hasher.VerifyAsync(stored, password + "!")).Should().Be(PasswordCheck.Failed);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_new_hash_is_what_the_reference_library_computes(int parallelism)
    {
        var hash = await Hasher(pepper: PepperOne, parallelism: parallelism).HashAsync("caf\u00e9 \ufb01ne password");
        var parts = hash.Split('$');

        var expected = Argon2idTests.Reference(new Argon2Cost(19456, 2, parallelism), System.Text.Encoding.UTF8.GetBytes("caf\u00e9 fine password"),
            FromB64(parts[4]), System.Text.Encoding.UTF8.GetBytes(PepperOne), null, 32);
        FromB64(parts[5]).Should().Equal(expected, "the password is NFKC-normalised and the pepper is Argon2's secret input");
    }

    [Fact]
    public async Task A_flood_of_hashes_leaves_one_block_buffer_per_limiter_slot_at_most()
    {
        var hasher = Hasher();

        await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(() => hasher.HashAsync($"flood password {i}"))));

        var slots = new HashLimiterOptions().MaxConcurrentHashes;
        hasher.RetainedMemory.Buffers.Should().BeInRange(1, slots);
        hasher.RetainedMemory.Bytes.Should().Be(hasher.RetainedMemory.Buffers * 19456L * 1024);
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
    [InlineData("$argon2id$v=19$m=8,t=2,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")]
    [InlineData("$2b$12$abcdefghijklmnopqrstuu")]
    public async Task Corrupt_or_foreign_hash_fails_instead_of_throwing(string stored)
    {
        (await Hasher().VerifyAsync(stored, "whatever password")).Should().Be(PasswordCheck.Failed);
    }

    private static byte[] FromB64(string text) => Convert.FromBase64String(text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '='));
}
