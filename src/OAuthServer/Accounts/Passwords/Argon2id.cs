using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;

namespace OAuthServer.Accounts;

/// <summary>The cost parameters of one Argon2id hash: memory in KiB (m), passes (t) and lanes (p).</summary>
internal readonly record struct Argon2Cost(int MemoryKiB, int Iterations, int Parallelism)
{
    /// <summary>RFC 9106 §3.2 step 4: m' = 4·p·⌊m / 4p⌋ blocks of 1 KiB, never fewer than 8 per lane.</summary>
    public int Blocks => 4 * Parallelism * (MemoryKiB / (4 * Parallelism));

    public int MemoryWords => Blocks * Argon2id.BlockWords;
}

/// <summary>
/// Argon2id, version 0x13, as RFC 9106 specifies it, over block memory the caller supplies (see
/// <see cref="Argon2MemoryPool"/>), so a hash allocates nothing of its own. Lanes are filled one after the
/// other on the calling thread: within a slice no lane reads another lane's current segment (§3.4.1.1), so the
/// order of lanes doesn't change the output, and the server's concurrency comes from the hash limiter's slots,
/// not from threads inside one hash. The hot methods are compiled optimised from their first call
/// (AggressiveOptimization): the first hashes after start-up would otherwise run unoptimised code several times
/// slower, which the start-up dummy hash and <c>argon2 calibrate</c>'s first samples would pay.
/// </summary>
internal static class Argon2id
{
    public const int BlockWords = 128;
    private const int BlockBytes = BlockWords * sizeof(ulong);
    private const int SyncPoints = 4;
    private const int AddressesPerBlock = BlockWords;
    private const uint Version = 0x13;
    private const uint TypeId = 2; // Argon2id (RFC 9106 §3.2, y)

    /// <summary>Whether this machine runs the AVX2 compression; the portable one gives the same bytes.</summary>
    public static bool Vectorised => Avx2.IsSupported;

    public static void Hash(Argon2Cost cost, ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> secret,
        ReadOnlySpan<byte> associatedData, Span<byte> tag, Span<ulong> memory) =>
        Hash(cost, password, salt, secret, associatedData, tag, memory, Vectorised);

    /// <summary>The same, choosing the compression explicitly, so tests can check both against the reference.</summary>
    internal static void Hash(Argon2Cost cost, ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> secret,
        ReadOnlySpan<byte> associatedData, Span<byte> tag, Span<ulong> memory, bool vectorised)
    {
        // RFC 9106 §3.1's bounds, as far as a 32-bit length can reach them.
        ArgumentOutOfRangeException.ThrowIfLessThan(cost.Parallelism, 1, nameof(cost));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(cost.Parallelism, 0xFFFFFF, nameof(cost));
        ArgumentOutOfRangeException.ThrowIfLessThan(cost.MemoryKiB, 8 * cost.Parallelism, nameof(cost));
        ArgumentOutOfRangeException.ThrowIfLessThan(cost.Iterations, 1, nameof(cost));
        ArgumentOutOfRangeException.ThrowIfLessThan(tag.Length, 4, nameof(tag));
        ArgumentOutOfRangeException.ThrowIfLessThan(salt.Length, 8, nameof(salt));
        ArgumentOutOfRangeException.ThrowIfLessThan(memory.Length, cost.MemoryWords, nameof(memory));
        if (vectorised && !Avx2.IsSupported)
        {
            throw new PlatformNotSupportedException("AVX2 is not available on this machine.");
        }

        memory = memory[..cost.MemoryWords];
        var laneLength = cost.Blocks / cost.Parallelism;

        // Scratch for the compression and for the data-independent addresses: 4 blocks on the stack.
        Span<ulong> scratch = stackalloc ulong[4 * BlockWords];
        Span<byte> seed = stackalloc byte[Blake2b.MaxDigestBytes + 8];
        Span<byte> blockBytes = stackalloc byte[BlockBytes];
        try
        {
            InitialHash(cost, password, salt, secret, associatedData, (uint)tag.Length, seed[..Blake2b.MaxDigestBytes]);

            // §3.4 steps 2 and 3: the first two blocks of every lane come from H0, the block's index and the lane.
            for (var lane = 0; lane < cost.Parallelism; lane++)
            {
                for (var index = 0; index < 2; index++)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(seed[64..], (uint)index);
                    BinaryPrimitives.WriteUInt32LittleEndian(seed[68..], (uint)lane);
                    VariableHash(seed, blockBytes);
                    ReadBlock(blockBytes, Block(memory, (lane * laneLength) + index));
                }
            }

            var fill = new Filler(memory, cost, laneLength, scratch, vectorised);
            for (var pass = 0; pass < cost.Iterations; pass++)
            {
                for (var slice = 0; slice < SyncPoints; slice++)
                {
                    for (var lane = 0; lane < cost.Parallelism; lane++)
                    {
                        fill.Segment(pass, slice, lane);
                    }
                }
            }

            // §3.4 step 7: the XOR of every lane's last block, hashed to the tag length.
            var final = scratch[..BlockWords];
            Block(memory, laneLength - 1).CopyTo(final);
            for (var lane = 1; lane < cost.Parallelism; lane++)
            {
                Xor(final, Block(memory, (lane * laneLength) + laneLength - 1));
            }

            for (var i = 0; i < BlockWords; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(blockBytes[(8 * i)..], final[i]);
            }

            VariableHash(blockBytes, tag);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(scratch));
            CryptographicOperations.ZeroMemory(seed);
            CryptographicOperations.ZeroMemory(blockBytes);
        }
    }

    // §3.2 step 1: H0 = H^64(p, T, m, t, v, y, |P|, P, |S|, S, |K|, K, |X|, X).
    private static void InitialHash(Argon2Cost cost, ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> secret,
        ReadOnlySpan<byte> associatedData, uint tagLength, Span<byte> h0)
    {
        var h = new Blake2b(Blake2b.MaxDigestBytes);
        h.UpdateLittleEndian((uint)cost.Parallelism);
        h.UpdateLittleEndian(tagLength);
        h.UpdateLittleEndian((uint)cost.MemoryKiB);
        h.UpdateLittleEndian((uint)cost.Iterations);
        h.UpdateLittleEndian(Version);
        h.UpdateLittleEndian(TypeId);
        WithLength(ref h, password);
        WithLength(ref h, salt);
        WithLength(ref h, secret);
        WithLength(ref h, associatedData);
        h.Finish(h0);

        static void WithLength(ref Blake2b h, ReadOnlySpan<byte> input)
        {
            h.UpdateLittleEndian((uint)input.Length);
            h.Update(input);
        }
    }

    // §3.3, H': the variable-length hash built from BLAKE2b, for outputs longer than 64 bytes.
    private static void VariableHash(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var h = new Blake2b(Math.Min(output.Length, Blake2b.MaxDigestBytes));
        h.UpdateLittleEndian((uint)output.Length);
        h.Update(input);
        if (output.Length <= Blake2b.MaxDigestBytes)
        {
            h.Finish(output);
            return;
        }

        Span<byte> v = stackalloc byte[Blake2b.MaxDigestBytes];
        h.Finish(v);
        var written = 0;
        while (true)
        {
            // Each V_i gives its first 32 bytes; the last one, of the remaining length, is given whole.
            v[..32].CopyTo(output[written..]);
            written += 32;
            var remaining = output.Length - written;
            var next = new Blake2b(Math.Min(remaining, Blake2b.MaxDigestBytes));
            next.Update(v);
            if (remaining <= Blake2b.MaxDigestBytes)
            {
                next.Finish(output[written..]);
                break;
            }

            next.Finish(v);
        }

        CryptographicOperations.ZeroMemory(v);
    }

    private static Span<ulong> Block(Span<ulong> memory, int index) => memory.Slice(index * BlockWords, BlockWords);

    private static void ReadBlock(ReadOnlySpan<byte> bytes, Span<ulong> block)
    {
        for (var i = 0; i < BlockWords; i++)
        {
            block[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(8 * i)..]);
        }
    }

    private static void Xor(Span<ulong> target, ReadOnlySpan<ulong> other)
    {
        for (var i = 0; i < BlockWords; i++)
        {
            target[i] ^= other[i];
        }
    }

    /// <summary>§3.4 steps 4 to 6: fills segments, finding each block's reference as Argon2id does.</summary>
    private readonly ref struct Filler
    {
        private readonly Span<ulong> _memory;
        private readonly Span<ulong> _zero;
        private readonly Span<ulong> _input;
        private readonly Span<ulong> _addresses;
        private readonly Span<ulong> _work;
        private readonly Argon2Cost _cost;
        private readonly int _laneLength;
        private readonly int _segmentLength;
        private readonly bool _vectorised;

        public Filler(Span<ulong> memory, Argon2Cost cost, int laneLength, Span<ulong> scratch, bool vectorised)
        {
            _memory = memory;
            _zero = scratch[..BlockWords];
            _input = scratch.Slice(BlockWords, BlockWords);
            _addresses = scratch.Slice(2 * BlockWords, BlockWords);
            _work = scratch.Slice(3 * BlockWords, BlockWords);
            _cost = cost;
            _laneLength = laneLength;
            _segmentLength = laneLength / SyncPoints;
            _vectorised = vectorised;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Segment(int pass, int slice, int lane)
        {
            // §3.4.1.3: Argon2id takes its references data-independently (Argon2i) in the first half of the first
            // pass, which resists side channels, and data-dependently (Argon2d) after, which resists trade-offs.
            var independent = pass == 0 && slice < SyncPoints / 2;
            if (independent)
            {
                _zero.Clear();
                _input.Clear();
                _input[0] = (ulong)pass;
                _input[1] = (ulong)lane;
                _input[2] = (ulong)slice;
                _input[3] = (ulong)_cost.Blocks;
                _input[4] = (ulong)_cost.Iterations;
                _input[5] = TypeId;
            }

            var start = pass == 0 && slice == 0 ? 2 : 0;
            if (independent && start != 0)
            {
                NextAddresses();
            }

            var current = (lane * _laneLength) + (slice * _segmentLength) + start;
            var previous = current % _laneLength == 0 ? current + _laneLength - 1 : current - 1;
            for (var index = start; index < _segmentLength; index++, previous = current, current++)
            {
                ulong pseudoRandom;
                if (independent)
                {
                    if (index % AddressesPerBlock == 0)
                    {
                        NextAddresses();
                    }

                    pseudoRandom = _addresses[index % AddressesPerBlock];
                }
                else
                {
                    pseudoRandom = _memory[previous * BlockWords];
                }

                var referenceLane = pass == 0 && slice == 0 ? lane : (int)((pseudoRandom >> 32) % (ulong)_cost.Parallelism);
                var referenceIndex = ReferenceIndex(pass, slice, index, (uint)pseudoRandom, referenceLane == lane);
                Compress(Block(_memory, previous), Block(_memory, (referenceLane * _laneLength) + referenceIndex),
                    Block(_memory, current), xorInto: pass > 0, _work, _vectorised);
            }
        }

        // §3.4.1.2: the next 128 pseudo-random words are G(0, G(0, input)), input holding a counter.
        private void NextAddresses()
        {
            _input[6]++;
            Compress(_zero, _input, _addresses, xorInto: false, _work, _vectorised);
            Compress(_zero, _addresses, _addresses, xorInto: false, _work, _vectorised);
        }

        // §3.4.2: maps J1 into the blocks this one may reference, favouring recent ones.
        private int ReferenceIndex(int pass, int slice, int index, uint j1, bool sameLane)
        {
            long area;
            if (pass == 0)
            {
                area = slice == 0 ? index - 1
                    : sameLane ? ((long)slice * _segmentLength) + index - 1
                    : ((long)slice * _segmentLength) - (index == 0 ? 1 : 0);
            }
            else
            {
                area = sameLane ? _laneLength - _segmentLength + index - 1
                    : _laneLength - _segmentLength - (index == 0 ? 1 : 0);
            }

            var x = ((ulong)j1 * j1) >> 32;
            var relative = (ulong)area - 1 - (((ulong)area * x) >> 32);
            var begin = pass != 0 && slice != SyncPoints - 1 ? (ulong)((slice + 1) * _segmentLength) : 0UL;
            return (int)((begin + relative) % (ulong)_laneLength);
        }
    }

    /// <summary>
    /// §3.5, the compression G: R = X ⊕ Y, then the BLAKE2b round P over each of R's 8 rows and 8 columns of
    /// 16 words, then the result ⊕ R (and ⊕ the old target from the second pass on, §3.4 version 0x13).
    /// <paramref name="target"/> may be <paramref name="y"/>: each word of Y is read before that word is written.
    /// </summary>
    private static void Compress(ReadOnlySpan<ulong> x, ReadOnlySpan<ulong> y, Span<ulong> target, bool xorInto, Span<ulong> work, bool vectorised)
    {
        // The bounds are checked once here; the rounds below index with Unsafe.Add inside these 128 words.
        if (x.Length != BlockWords || y.Length != BlockWords || target.Length != BlockWords || work.Length != BlockWords)
        {
            throw new ArgumentException("Argon2 blocks are 128 words.");
        }

        if (vectorised)
        {
            CompressAvx2(x, y, target, xorInto, work);
        }
        else
        {
            CompressPortable(x, y, target, xorInto, work);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CompressPortable(ReadOnlySpan<ulong> x, ReadOnlySpan<ulong> y, Span<ulong> target, bool xorInto, Span<ulong> r)
    {
        for (var i = 0; i < BlockWords; i++)
        {
            r[i] = x[i] ^ y[i];
        }

        ref var words = ref MemoryMarshal.GetReference(r);
        for (var row = 0; row < 8; row++)
        {
            Round(ref Unsafe.Add(ref words, 16 * row), 2);
        }

        for (var column = 0; column < 8; column++)
        {
            Round(ref Unsafe.Add(ref words, 2 * column), 16);
        }

        for (var i = 0; i < BlockWords; i++)
        {
            var result = r[i] ^ x[i] ^ y[i];
            target[i] = xorInto ? target[i] ^ result : result;
        }
    }

    // P over 16 words taken in pairs: a row's pairs are adjacent (stride 2), a column's are a row apart (stride 16).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Round(ref ulong first, nint stride)
    {
        ref var w0 = ref first;
        ref var w2 = ref Unsafe.Add(ref first, stride);
        ref var w4 = ref Unsafe.Add(ref first, 2 * stride);
        ref var w6 = ref Unsafe.Add(ref first, 3 * stride);
        ref var w8 = ref Unsafe.Add(ref first, 4 * stride);
        ref var w10 = ref Unsafe.Add(ref first, 5 * stride);
        ref var w12 = ref Unsafe.Add(ref first, 6 * stride);
        ref var w14 = ref Unsafe.Add(ref first, 7 * stride);
        ulong v0 = w0, v1 = Unsafe.Add(ref w0, 1), v2 = w2, v3 = Unsafe.Add(ref w2, 1);
        ulong v4 = w4, v5 = Unsafe.Add(ref w4, 1), v6 = w6, v7 = Unsafe.Add(ref w6, 1);
        ulong v8 = w8, v9 = Unsafe.Add(ref w8, 1), v10 = w10, v11 = Unsafe.Add(ref w10, 1);
        ulong v12 = w12, v13 = Unsafe.Add(ref w12, 1), v14 = w14, v15 = Unsafe.Add(ref w14, 1);

        Mix(ref v0, ref v4, ref v8, ref v12);
        Mix(ref v1, ref v5, ref v9, ref v13);
        Mix(ref v2, ref v6, ref v10, ref v14);
        Mix(ref v3, ref v7, ref v11, ref v15);
        Mix(ref v0, ref v5, ref v10, ref v15);
        Mix(ref v1, ref v6, ref v11, ref v12);
        Mix(ref v2, ref v7, ref v8, ref v13);
        Mix(ref v3, ref v4, ref v9, ref v14);

        w0 = v0; Unsafe.Add(ref w0, 1) = v1; w2 = v2; Unsafe.Add(ref w2, 1) = v3;
        w4 = v4; Unsafe.Add(ref w4, 1) = v5; w6 = v6; Unsafe.Add(ref w6, 1) = v7;
        w8 = v8; Unsafe.Add(ref w8, 1) = v9; w10 = v10; Unsafe.Add(ref w10, 1) = v11;
        w12 = v12; Unsafe.Add(ref w12, 1) = v13; w14 = v14; Unsafe.Add(ref w14, 1) = v15;
    }

    // BLAKE2b's G with Argon2's multiplication (§3.6, GB): a + b + 2·lo32(a)·lo32(b) in place of a + b.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mix(ref ulong a, ref ulong b, ref ulong c, ref ulong d)
    {
        a = a + b + (2 * (ulong)(uint)a * (uint)b);
        d = BitOperations.RotateRight(d ^ a, 32);
        c = c + d + (2 * (ulong)(uint)c * (uint)d);
        b = BitOperations.RotateRight(b ^ c, 24);
        a = a + b + (2 * (ulong)(uint)a * (uint)b);
        d = BitOperations.RotateRight(d ^ a, 16);
        c = c + d + (2 * (ulong)(uint)c * (uint)d);
        b = BitOperations.RotateRight(b ^ c, 63);
    }

    // The same compression on 256-bit vectors: four GB at once. A row is 4 adjacent vectors; two columns
    // (2u, 2u+1) are the vectors u, u+4, ..., u+28, each holding a word pair of both columns.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CompressAvx2(ReadOnlySpan<ulong> x, ReadOnlySpan<ulong> y, Span<ulong> target, bool xorInto, Span<ulong> work)
    {
        var xs = MemoryMarshal.Cast<ulong, Vector256<ulong>>(x);
        var ys = MemoryMarshal.Cast<ulong, Vector256<ulong>>(y);
        var ts = MemoryMarshal.Cast<ulong, Vector256<ulong>>(target);
        var r = MemoryMarshal.Cast<ulong, Vector256<ulong>>(work);
        for (var i = 0; i < 32; i++)
        {
            r[i] = Avx2.Xor(xs[i], ys[i]);
        }

        ref var v = ref MemoryMarshal.GetReference(r);
        for (var row = 0; row < 8; row++)
        {
            RowRound(ref Unsafe.Add(ref v, 4 * row));
        }

        for (var pair = 0; pair < 4; pair++)
        {
            ColumnRound(ref Unsafe.Add(ref v, pair));
        }

        for (var i = 0; i < 32; i++)
        {
            var result = Avx2.Xor(r[i], Avx2.Xor(xs[i], ys[i]));
            ts[i] = xorInto ? Avx2.Xor(ts[i], result) : result;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowRound(ref Vector256<ulong> row)
    {
        var a = row;
        var b = Unsafe.Add(ref row, 1);
        var c = Unsafe.Add(ref row, 2);
        var d = Unsafe.Add(ref row, 3);
        Mix(ref a, ref b, ref c, ref d);

        // Diagonals: rotate b, c and d by one, two and three words, mix, and rotate back.
        b = Avx2.Permute4x64(b, 0b00_11_10_01);
        c = Avx2.Permute4x64(c, 0b01_00_11_10);
        d = Avx2.Permute4x64(d, 0b10_01_00_11);
        Mix(ref a, ref b, ref c, ref d);
        row = a;
        Unsafe.Add(ref row, 1) = Avx2.Permute4x64(b, 0b10_01_00_11);
        Unsafe.Add(ref row, 2) = Avx2.Permute4x64(c, 0b01_00_11_10);
        Unsafe.Add(ref row, 3) = Avx2.Permute4x64(d, 0b00_11_10_01);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ColumnRound(ref Vector256<ulong> first)
    {
        // Vector k of the pair holds words (2k, 2k+1) of both columns of the pair.
        var x0 = first;
        var x1 = Unsafe.Add(ref first, 4);
        var x2 = Unsafe.Add(ref first, 8);
        var x3 = Unsafe.Add(ref first, 12);
        var x4 = Unsafe.Add(ref first, 16);
        var x5 = Unsafe.Add(ref first, 20);
        var x6 = Unsafe.Add(ref first, 24);
        var x7 = Unsafe.Add(ref first, 28);
        Mix(ref x0, ref x2, ref x4, ref x6);
        Mix(ref x1, ref x3, ref x5, ref x7);

        // Diagonals: (v0, v5, v10, v15), (v1, v6, v11, v12) and (v2, v7, v8, v13), (v3, v4, v9, v14).
        var b1 = Swap(x3, x2);
        var b2 = Swap(x2, x3);
        var d1 = Swap(x6, x7);
        var d2 = Swap(x7, x6);
        Mix(ref x0, ref b1, ref x5, ref d1);
        Mix(ref x1, ref b2, ref x4, ref d2);

        first = x0;
        Unsafe.Add(ref first, 4) = x1;
        Unsafe.Add(ref first, 8) = Swap(b1, b2);
        Unsafe.Add(ref first, 12) = Swap(b2, b1);
        Unsafe.Add(ref first, 16) = x4;
        Unsafe.Add(ref first, 20) = x5;
        Unsafe.Add(ref first, 24) = Swap(d2, d1);
        Unsafe.Add(ref first, 28) = Swap(d1, d2);
    }

    // In each 128-bit half: (the high word of low, the low word of high).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Swap(Vector256<ulong> high, Vector256<ulong> low) =>
        Avx2.AlignRight(high.AsByte(), low.AsByte(), 8).AsUInt64();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mix(ref Vector256<ulong> a, ref Vector256<ulong> b, ref Vector256<ulong> c, ref Vector256<ulong> d)
    {
        a = BlaMka(a, b);
        d = RotateRight32(Avx2.Xor(d, a));
        c = BlaMka(c, d);
        b = RotateRight24(Avx2.Xor(b, c));
        a = BlaMka(a, b);
        d = RotateRight16(Avx2.Xor(d, a));
        c = BlaMka(c, d);
        b = RotateRight63(Avx2.Xor(b, c));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> BlaMka(Vector256<ulong> a, Vector256<ulong> b)
    {
        var product = Avx2.Multiply(a.AsUInt32(), b.AsUInt32());
        return Avx2.Add(Avx2.Add(a, b), Avx2.Add(product, product));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> RotateRight32(Vector256<ulong> value) =>
        Avx2.Shuffle(value.AsUInt32(), 0b10_11_00_01).AsUInt64();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> RotateRight24(Vector256<ulong> value) =>
        Avx2.Shuffle(value.AsByte(), Vector256.Create((byte)3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10,
            3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10)).AsUInt64();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> RotateRight16(Vector256<ulong> value) =>
        Avx2.Shuffle(value.AsByte(), Vector256.Create((byte)2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9,
            2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9)).AsUInt64();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> RotateRight63(Vector256<ulong> value) =>
        Avx2.Xor(Avx2.ShiftRightLogical(value, 63), Avx2.Add(value, value));
}
