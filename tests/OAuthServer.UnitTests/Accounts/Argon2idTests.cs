using System.Text;
using Isopoh.Cryptography.Argon2;
using Isopoh.Cryptography.Blake2b;
using Isopoh.Cryptography.SecureArray;
using OAuthServer.Accounts;

namespace OAuthServer.UnitTests.Accounts;

/// <summary>
/// Our Argon2id (RFC 9106) and BLAKE2b (RFC 7693) against the RFCs' own vectors and, byte for byte, against
/// Isopoh.Cryptography.Argon2, the library that made every hash stored so far. Both compressions are checked:
/// the AVX2 one where this machine has it, and the portable one every machine can run.
/// </summary>
public sealed class Argon2idTests
{
    public static TheoryData<bool> Compressions()
    {
        var data = new TheoryData<bool> { false };
        if (Argon2id.Vectorised)
        {
            data.Add(true);
        }

        return data;
    }

    [Fact]
    public void Blake2b_gives_the_RFC_7693_digest_of_abc()
    {
        // RFC 7693 Appendix A: BLAKE2b-512("abc").
        Digest("abc"u8, 64).Should().Equal(Convert.FromHexString(
            "BA80A53F981C4D0D6A2797B69F12F6E94C212F14685AC4B74B12BB6FDBFFA2D17D87C5392AAB792DC252D5DE4533CC9518D38AA8DBF1925AB92386EDD4009923"));
    }

    [Fact]
    public void Blake2b_matches_the_reference_for_every_length_around_its_block_boundaries()
    {
        var random = new Random(7693);
        foreach (var length in new[] { 0, 1, 63, 64, 127, 128, 129, 255, 256, 257, 1024, 1100 })
        {
            var data = new byte[length];
            random.NextBytes(data);
            foreach (var digestBytes in new[] { 1, 4, 32, 33, 64 })
            {
                var expected = Blake2B.ComputeHash(data, new Blake2BConfig { OutputSizeInBytes = digestBytes }, SecureArray.DefaultCall);

                Digest(data, digestBytes).Should().Equal(expected, $"input {length} bytes, digest {digestBytes} bytes");
            }
        }
    }

    [Fact]
    public void Blake2b_fed_in_pieces_gives_the_digest_of_the_whole()
    {
        var data = new byte[777];
        new Random(1).NextBytes(data);
        var whole = Digest(data, 64);

        foreach (var cut in new[] { 1, 127, 128, 129, 500 })
        {
            var h = new Blake2b(64);
            h.Update(data.AsSpan(0, cut));
            h.Update(data.AsSpan(cut));
            var digest = new byte[64];
            h.Finish(digest);

            digest.Should().Equal(whole, $"cut at {cut}");
        }
    }

    [Theory]
    [MemberData(nameof(Compressions))]
    public void Argon2id_gives_the_RFC_9106_test_vector_with_its_secret_and_associated_data(bool vectorised)
    {
        // RFC 9106 §5.3: m=32, t=3, p=4, P = 32 × 0x01, S = 16 × 0x02, K = 8 × 0x03, X = 12 × 0x04, T = 32.
        var expected = Convert.FromHexString("0D640DF58D78766C08C037A34A8B53C9D01EF0452D75B65EB52520E96B01E659");
        var cost = new Argon2Cost(32, 3, 4);
        var password = Filled(32, 0x01);
        var salt = Filled(16, 0x02);
        var secret = Filled(8, 0x03);
        var associatedData = Filled(12, 0x04);

        Ours(cost, password, salt, secret, associatedData, 32, vectorised).Should().Equal(expected);
        Reference(cost, password, salt, secret, associatedData, 32).Should().Equal(expected, "the reference agrees with the RFC");
    }

    [Theory]
    [MemberData(nameof(Compressions))]
    public void Argon2id_matches_the_reference_at_the_servers_cost_and_with_several_lanes(bool vectorised)
    {
        var pepper = Encoding.UTF8.GetBytes("pepper-version-one-0123456789");
        foreach (var cost in new Argon2Cost[] { new(19456, 2, 1), new(19456, 2, 2), new(20000, 2, 3), new(8192, 3, 4) })
        {
            var salt = Filled(16, (byte)cost.Parallelism);
            var password = Encoding.UTF8.GetBytes($"password for {cost}");

            Ours(cost, password, salt, pepper, [], 32, vectorised).Should().Equal(Reference(cost, password, salt, pepper, null, 32), cost.ToString());
            Ours(cost, password, salt, [], [], 32, vectorised).Should().Equal(Reference(cost, password, salt, null, null, 32), $"{cost} without a pepper");
        }
    }

    [Theory]
    [MemberData(nameof(Compressions))]
    public void Argon2id_matches_the_reference_on_random_costs_salts_passwords_peppers_and_lengths(bool vectorised)
    {
        // A fixed seed, so a failure names a case that can be run again.
        var random = new Random(9106);
        for (var i = 0; i < 40; i++)
        {
            var parallelism = random.Next(1, 6);
            var cost = new Argon2Cost(random.Next(8 * parallelism, 600), random.Next(1, 5), parallelism);
            var password = Bytes(random, random.Next(0, 130));
            var salt = Bytes(random, random.Next(8, 40));
            var pepper = random.Next(3) == 0 ? null : Bytes(random, random.Next(1, 70));
            var associatedData = random.Next(3) == 0 ? Bytes(random, random.Next(1, 40)) : null;
            var tagLength = random.Next(4) switch { 0 => random.Next(4, 64), 1 => random.Next(65, 200), _ => 32 };

            Ours(cost, password, salt, pepper ?? [], associatedData ?? [], tagLength, vectorised)
                .Should().Equal(Reference(cost, password, salt, pepper, associatedData, tagLength),
                    $"case {i}: {cost}, |P|={password.Length}, |S|={salt.Length}, |K|={pepper?.Length}, |X|={associatedData?.Length}, T={tagLength}");
        }
    }

    [Fact]
    public void A_reused_buffer_gives_the_same_hash_as_a_fresh_one_and_is_wiped_when_returned()
    {
        var pool = new Argon2MemoryPool(1);
        var small = new Argon2Cost(64, 2, 1);
        var large = new Argon2Cost(512, 2, 2);
        var salt = Filled(16, 9);
        var first = Hash(pool, large, "first"u8, salt);
        Hash(pool, small, "second"u8, salt).Should().Equal(Reference(small, "second"u8.ToArray(), salt, null, null, 32));

        // The one buffer, grown for the larger cost and reused since: the larger hash again gives the same bytes.
        Hash(pool, large, "first"u8, salt).Should().Equal(first);
        pool.Retained.Should().Be((1, large.MemoryWords * 8L));
        using (var lease = pool.Rent(small))
        {
            lease.Memory.ToArray().Should().OnlyContain(word => word == 0, "a returned buffer held password-derived blocks");
        }
    }

    [Fact]
    public void The_pool_never_keeps_more_buffers_than_its_capacity()
    {
        var pool = new Argon2MemoryPool(2);
        var cost = new Argon2Cost(64, 1, 1);
        var leases = Enumerable.Range(0, 3).Select(_ => pool.Rent(cost)).ToList();
        leases.ForEach(lease => lease.Dispose());

        pool.Retained.Buffers.Should().Be(2);
    }

    private static byte[] Hash(Argon2MemoryPool pool, Argon2Cost cost, ReadOnlySpan<byte> password, byte[] salt)
    {
        var tag = new byte[32];
        using var lease = pool.Rent(cost);
        Argon2id.Hash(cost, password, salt, [], [], tag, lease.Memory);
        return tag;
    }

    private static byte[] Ours(Argon2Cost cost, byte[] password, byte[] salt, byte[] secret, byte[] associatedData, int tagLength, bool vectorised)
    {
        var tag = new byte[tagLength];
        Argon2id.Hash(cost, password, salt, secret, associatedData, tag, new ulong[cost.MemoryWords], vectorised);
        return tag;
    }

    internal static byte[] Reference(Argon2Cost cost, byte[] password, byte[] salt, byte[]? secret, byte[]? associatedData, int tagLength)
    {
        using var argon2 = new Argon2(new Argon2Config
        {
            Type = Argon2Type.HybridAddressing,
            Version = Argon2Version.Nineteen,
            MemoryCost = cost.MemoryKiB,
            TimeCost = cost.Iterations,
            Lanes = cost.Parallelism,
            Threads = cost.Parallelism,
            HashLength = tagLength,
            Salt = salt,
            Secret = secret,
            AssociatedData = associatedData,
            Password = (byte[])password.Clone(),
            ClearPassword = true,
        });
        using var hash = argon2.Hash();
        return hash.Buffer.ToArray();
    }

    private static byte[] Digest(ReadOnlySpan<byte> data, int digestBytes)
    {
        var h = new Blake2b(digestBytes);
        h.Update(data);
        var digest = new byte[digestBytes];
        h.Finish(digest);
        return digest;
    }

    private static byte[] Filled(int length, byte value) => Enumerable.Repeat(value, length).ToArray();

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
