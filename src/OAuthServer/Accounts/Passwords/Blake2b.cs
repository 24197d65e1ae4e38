using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace OAuthServer.Accounts;

/// <summary>
/// BLAKE2b (RFC 7693), unkeyed, with a digest of 1 to 64 bytes: the hash function H inside Argon2 (RFC 9106 §3.2).
/// A mutable struct meant to live in one local variable, so hashing allocates nothing. Its state is derived from
/// the password, so <see cref="Finish"/> wipes it.
/// </summary>
internal struct Blake2b
{
    public const int MaxDigestBytes = 64;
    private const int BlockBytes = 128;

    private StateWords _h;
    private BlockBuffer _buffer;
    private int _filled;
    private ulong _compressed;
    private readonly int _digestBytes;

    public Blake2b(int digestBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(digestBytes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(digestBytes, MaxDigestBytes);
        _digestBytes = digestBytes;
        InitialisationVector.CopyTo(_h);

        // Note: RFC 7693 §2.5, the parameter block: digest length, no key, fan-out 1, depth 1.
        _h[0] ^= 0x01010000UL | (uint)digestBytes;
    }

    public void Update(ReadOnlySpan<byte> data)
    {
        Span<byte> buffer = _buffer;
        while (!data.IsEmpty)
        {
            // The last block is compressed only by Finish, with the final flag: a full buffer waits for more input.
            if (_filled == BlockBytes)
            {
                _compressed += BlockBytes;
                Compress(final: false);
                _filled = 0;
            }

            var take = Math.Min(BlockBytes - _filled, data.Length);
            data[..take].CopyTo(buffer[_filled..]);
            _filled += take;
            data = data[take..];
        }
    }

    /// <summary>Argon2 feeds every length and parameter to H as a 32-bit little-endian number (RFC 9106 §3.2).</summary>
    public void UpdateLittleEndian(uint value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(uint)];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        Update(bytes);
    }

    public void Finish(Span<byte> digest)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(digest.Length, _digestBytes);
        _compressed += (ulong)_filled;
        ((Span<byte>)_buffer)[_filled..].Clear();
        Compress(final: true);

        Span<byte> full = stackalloc byte[MaxDigestBytes];
        for (var i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(full[(8 * i)..], _h[i]);
        }

        full[..digest.Length].CopyTo(digest);
        CryptographicOperations.ZeroMemory(full);
        CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes((Span<ulong>)_h));
        CryptographicOperations.ZeroMemory(_buffer);
        _filled = 0;
    }

    private void Compress(bool final)
    {
        Span<ulong> m = stackalloc ulong[16];
        ReadOnlySpan<byte> block = _buffer;
        for (var i = 0; i < 16; i++)
        {
            m[i] = BinaryPrimitives.ReadUInt64LittleEndian(block[(8 * i)..]);
        }

        Span<ulong> v = stackalloc ulong[16];
        ((ReadOnlySpan<ulong>)_h).CopyTo(v);
        InitialisationVector.CopyTo(v[8..]);
        // The byte counter's high word (v[13]) stays as it is: Argon2 never hashes 2^64 bytes.
        v[12] ^= _compressed;
        if (final)
        {
            v[14] = ~v[14];
        }

        for (var round = 0; round < 12; round++)
        {
            var s = Sigma.Slice(16 * (round % 10), 16);
            Mix(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
            Mix(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
            Mix(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
            Mix(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
            Mix(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
            Mix(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
            Mix(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
            Mix(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
        }

        for (var i = 0; i < 8; i++)
        {
            _h[i] ^= v[i] ^ v[i + 8];
        }

        CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(m));
        CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v));
    }

    // RFC 7693 §3.1, the mixing function G.
    private static void Mix(Span<ulong> v, int a, int b, int c, int d, ulong x, ulong y)
    {
        v[a] = v[a] + v[b] + x;
        v[d] = BitOperations.RotateRight(v[d] ^ v[a], 32);
        v[c] += v[d];
        v[b] = BitOperations.RotateRight(v[b] ^ v[c], 24);
        v[a] = v[a] + v[b] + y;
        v[d] = BitOperations.RotateRight(v[d] ^ v[a], 16);
        v[c] += v[d];
        v[b] = BitOperations.RotateRight(v[b] ^ v[c], 63);
    }

    private static ReadOnlySpan<ulong> InitialisationVector =>
    [
        0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
        0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
    ];

    // RFC 7693 §2.7: the message word order of each round; rounds 10 and 11 reuse rows 0 and 1.
    private static ReadOnlySpan<byte> Sigma =>
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
        11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
        7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
        9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
        2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
        12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
        13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
        6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
        10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
    ];

    [InlineArray(8)]
    private struct StateWords
    {
        private ulong _word;
    }

    [InlineArray(BlockBytes)]
    private struct BlockBuffer
    {
        private byte _byte;
    }
}
