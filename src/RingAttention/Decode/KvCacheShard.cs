using System.Runtime.InteropServices;

namespace RingAttention.Decode;

/// <summary>
/// One rank's KV cache: K and V of every token the rank keeps, in the storage type, with each token's global
/// position. Positions need not be contiguous (a zigzag prefill's two chunks, then appended blocks). Memory is
/// [batch, kvHeads, capacity, headDim] for K and for V, so the decode kernel streams each KV head's rows in order;
/// it is native, 64-byte aligned, preallocated and grown by doubling (rows move within the rank, never between
/// ranks) up to <see cref="MaxLength"/>.
/// </summary>
public sealed unsafe class KvCacheShard : IDisposable
{
    private readonly AttentionOptions _options;
    private readonly int _elementSize;
    private int[] _positions;
    private byte* _keys;
    private byte* _values;

    /// <summary>An empty cache with room for <paramref name="capacity"/> tokens, growing up to <paramref name="maxLength"/>.</summary>
    public KvCacheShard(AttentionOptions options, int capacity, int? maxLength)
    {
        options.Validate();
        Guard.AtLeast(capacity, 0);
        Guard.AtLeast(maxLength ?? 1, 1, nameof(maxLength));
        _options = options;
        _elementSize = ElementTypes.SizeOf(options.ElementType);
        MaxLength = maxLength ?? int.MaxValue;
        _positions = [];
        Reallocate(Math.Min(capacity, MaxLength));
    }

    /// <summary>Tokens held.</summary>
    public int Length { get; private set; }

    /// <summary>Tokens that fit before the next reallocation.</summary>
    public int Capacity { get; private set; }

    /// <summary>The most tokens this cache may hold.</summary>
    public int MaxLength { get; }

    /// <summary>Global position of each held token, in cache order.</summary>
    public ReadOnlySpan<int> Positions => _positions.AsSpan(0, Length);

    /// <summary>Bytes of K and V the held tokens occupy: what one decode step reads.</summary>
    public long Bytes => 2L * Length * _options.Batch * _options.KeyRowElements * _elementSize;

    /// <summary>Bytes allocated for K and V.</summary>
    public long CapacityBytes => 2L * Capacity * _options.Batch * _options.KeyRowElements * _elementSize;

    /// <summary>
    /// Appends one token: row <paramref name="row"/> of <paramref name="k"/> and <paramref name="v"/>, which are
    /// [batch, rows, kvHeads, headDim] in the storage type, at global position <paramref name="position"/>.
    /// </summary>
    public void Append<T>(ReadOnlySpan<T> k, ReadOnlySpan<T> v, int rows, int row, int position) where T : unmanaged
    {
        Guard.That(ElementTypes.Of<T>() == _options.ElementType, nameof(T), $"the element type {_options.ElementType}", typeof(T).Name);
        Guard.InRange(row, 0, rows - 1);
        Guard.AtLeast(position, 0);
        int width = _options.KeyRowElements;
        Guard.Length(k.Length, (long)_options.Batch * rows * width, "batch × rows × kvHeads × headDim", nameof(k));
        Guard.Length(v.Length, (long)_options.Batch * rows * width, "batch × rows × kvHeads × headDim", nameof(v));
        Reserve(1, position);
        int d = _options.HeadDim, kvHeads = _options.EffectiveKvHeads;
        for (int b = 0; b < _options.Batch; b++)
        {
            for (int h = 0; h < kvHeads; h++)
            {
                int source = ((b * rows + row) * kvHeads + h) * d;
                long target = RowOffset(b, h, Length);
                MemoryMarshal.AsBytes(k.Slice(source, d)).CopyTo(new Span<byte>(_keys + target, d * _elementSize));
                MemoryMarshal.AsBytes(v.Slice(source, d)).CopyTo(new Span<byte>(_values + target, d * _elementSize));
            }
        }
        _positions[Length++] = position;
    }

    /// <summary>
    /// Makes room for <paramref name="tokens"/> more tokens (the first at <paramref name="position"/>, for the
    /// message), growing by doubling; throws an <see cref="InvalidInputException"/> naming
    /// <see cref="DecodeCacheOptions.MaxTokensPerRank"/> when they would exceed <see cref="MaxLength"/>.
    /// </summary>
    public void Reserve(int tokens, int position)
    {
        Guard.AtLeast(tokens, 0);
        long needed = (long)Length + tokens;
        if (needed <= Capacity)
        {
            return;
        }
        if (needed > MaxLength)
        {
            throw new InvalidInputException(nameof(DecodeCacheOptions.MaxTokensPerRank),
                $"{nameof(DecodeCacheOptions.MaxTokensPerRank)}: the rank's KV cache is full ({MaxLength} tokens, {Length} held); expected room for {tokens} more from position {position}, actual {MaxLength - Length}.");
        }
        Reallocate((int)Math.Min(MaxLength, Math.Max(needed, Math.Max(16L, 2L * Capacity))));
    }

    /// <summary>
    /// Replaces this cache's rows with those of <paramref name="source"/> (same problem), growing when needed: what
    /// receiving another rank's whole shard does, for ring decoding that passes the cache around (bench only).
    /// </summary>
    internal void CopyFrom(KvCacheShard source)
    {
        Guard.That(source._options.KeyRowElements == _options.KeyRowElements && source._options.Batch == _options.Batch && source._elementSize == _elementSize,
            nameof(source), "a cache of the same batch, KV heads, head dim and storage type", source._options);
        Length = 0;
        Reserve(source.Length, 0);
        long bytes = (long)source.Length * _options.HeadDim * _elementSize;
        for (int b = 0; b < _options.Batch; b++)
        {
            for (int h = 0; h < _options.EffectiveKvHeads; h++)
            {
                Buffer.MemoryCopy(source.KeyRow(b, h, 0), KeyRow(b, h, 0), bytes, bytes);
                Buffer.MemoryCopy(source.ValueRow(b, h, 0), ValueRow(b, h, 0), bytes, bytes);
            }
        }
        source.Positions.CopyTo(_positions);
        Length = source.Length;
    }

    /// <summary>Address of K's row <paramref name="index"/> of (batch, kvHead).</summary>
    internal byte* KeyRow(int batch, int kvHead, int index) => _keys + RowOffset(batch, kvHead, index);

    /// <summary>Address of V's row <paramref name="index"/> of (batch, kvHead).</summary>
    internal byte* ValueRow(int batch, int kvHead, int index) => _values + RowOffset(batch, kvHead, index);

    private long RowOffset(int batch, int kvHead, int index) =>
        (((long)batch * _options.EffectiveKvHeads + kvHead) * Capacity + index) * _options.HeadDim * _elementSize;

    private void Reallocate(int capacity)
    {
        long rowBytes = (long)_options.HeadDim * _elementSize;
        nuint bytes = (nuint)Math.Max(1L, (long)_options.Batch * _options.EffectiveKvHeads * capacity * rowBytes);
        byte* keys = (byte*)NativeMemory.AlignedAlloc(bytes, 64);
        byte* values = (byte*)NativeMemory.AlignedAlloc(bytes, 64);
        for (int b = 0; b < _options.Batch; b++)
        {
            for (int h = 0; h < _options.EffectiveKvHeads; h++)
            {
                long from = RowOffset(b, h, 0), to = ((long)b * _options.EffectiveKvHeads + h) * capacity * rowBytes;
                Buffer.MemoryCopy(_keys + from, keys + to, capacity * rowBytes, Length * rowBytes);
                Buffer.MemoryCopy(_values + from, values + to, capacity * rowBytes, Length * rowBytes);
            }
        }
        Free();
        _keys = keys;
        _values = values;
        Capacity = capacity;
        Array.Resize(ref _positions, capacity);
    }

    private void Free()
    {
        NativeMemory.AlignedFree(_keys);
        NativeMemory.AlignedFree(_values);
        _keys = _values = null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the native memory of a cache that was never disposed.</summary>
    ~KvCacheShard() => Free();
}
