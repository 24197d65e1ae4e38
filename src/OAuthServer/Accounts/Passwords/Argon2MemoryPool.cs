using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace OAuthServer.Accounts;

/// <summary>
/// Argon2's block memory, kept between hashes: one buffer per hash-limiter slot, at most <c>capacity</c> of them,
/// each as large as the largest cost it has served (a buffer too small for a hash is replaced by a larger one).
/// Threat model "Argon2 DoS": with every Argon2 operation inside the limiter, the memory Argon2 holds is exactly
/// MaxConcurrentHashes × m however long a flood lasts, instead of a fresh m of garbage per hash left for the
/// garbage collector. A returned buffer is wiped, since it held blocks derived from a password and a pepper.
/// </summary>
internal sealed class Argon2MemoryPool(int capacity)
{
    private readonly Lock _lock = new();
    private const int AlignmentWords = 64 / sizeof(ulong);

    private readonly Stack<Buffer> _idle = new();
    private int _leased;

    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    /// <summary>How many buffers the pool keeps now, and their total size: what Argon2 holds between hashes.</summary>
    public (int Buffers, long Bytes) Retained
    {
        get
        {
            lock (_lock)
            {
                return (_idle.Count, _idle.Sum(buffer => (long)buffer.Words * sizeof(ulong)));
            }
        }
    }

    public Lease Rent(Argon2Cost cost)
    {
        var words = cost.MemoryWords;
        Buffer? buffer;
        bool pooled;
        lock (_lock)
        {
            pooled = _idle.TryPop(out buffer) || _leased < Capacity;
            _leased++;
        }

        if (buffer is null || buffer.Words < words)
        {
            buffer = new Buffer(words);
        }

        return new Lease(this, buffer, words, pooled);
    }

    private void Return(Buffer buffer, int usedWords, bool pooled)
    {
        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(buffer.Span(usedWords)));
        lock (_lock)
        {
            _leased--;
            // A lease beyond the capacity means more hashes at once than the limiter has slots, which the hasher
            // never does; such a buffer is still wiped, but then left to the garbage collector.
            if (pooled)
            {
                _idle.Push(buffer);
            }
        }
    }

    /// <summary>One hash's use of a buffer; disposing it wipes the buffer and gives it back.</summary>
    public readonly struct Lease : IDisposable
    {
        private readonly Argon2MemoryPool _pool;
        private readonly Buffer _buffer;
        private readonly int _words;
        private readonly bool _pooled;

        internal Lease(Argon2MemoryPool pool, Buffer buffer, int words, bool pooled)
        {
            _pool = pool;
            _buffer = buffer;
            _words = words;
            _pooled = pooled;
        }

        public Span<ulong> Memory => _buffer.Span(_words);

        public void Dispose() => _pool?.Return(_buffer, _words, _pooled);
    }

    /// <summary>
    /// A block buffer that starts on a 64-byte boundary, so no 32-byte load of the AVX2 compression straddles two
    /// cache lines. The array lives on the pinned object heap: it is allocated once and kept, so its address, and
    /// with it the aligned offset, never changes.
    /// </summary>
    internal sealed class Buffer
    {
        private readonly ulong[] _array;
        private readonly int _offset;

        public Buffer(int words)
        {
            // Note: never zeroed on allocation. Argon2 writes every block before it reads it (RFC 9106 §3.4: a
            // block only references blocks already filled), and the pool wipes a buffer when it comes back.
            _array = GC.AllocateUninitializedArray<ulong>(words + AlignmentWords - 1, pinned: true);
            var misalignment = (int)(Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0) % 64) / sizeof(ulong);
            _offset = misalignment == 0 ? 0 : AlignmentWords - misalignment;
            Words = words;
        }

        public int Words { get; }

        public Span<ulong> Span(int words) => _array.AsSpan(_offset, words);
    }
}
