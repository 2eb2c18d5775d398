using System.Runtime.InteropServices;
using RingAttention.Cuda.Kernels;
using RingAttention.Decode;
using RingAttention.Kernels;

namespace RingAttention.Cuda.Decode;

/// <summary>
/// The CUDA split-KV decode kernel of one rank (<c>kernels/flash_decode.cu</c>, then <c>flash_decode_combine.cu</c>),
/// with the rank's cache on the device. The host <see cref="KvCacheShard"/> stays the record of what the rank holds
/// (placement, positions, capacity checks); the device copy follows it: each call uploads only the rows appended
/// since the previous one, and everything once after the shard grew (its rows moved). The combine writes the rank's
/// partial straight into the merge's slot in device memory.
/// </summary>
/// <param name="backend">The device.</param>
/// <param name="keysPerSplit">Cache rows per split instead of the choice of <see cref="Splits"/> (a multiple of 32; tests use it to cross split boundaries on a one-SM software GPU).</param>
internal sealed unsafe class CudaDecodeKernel(CudaBackend backend, int? keysPerSplit = null) : IDecodeKernel
{
    private readonly int? _keysPerSplit = keysPerSplit is null || keysPerSplit % KernelSpecs.DecodeBlockN == 0 && keysPerSplit > 0
        ? keysPerSplit : throw new ArgumentOutOfRangeException(nameof(keysPerSplit), $"keysPerSplit: expected a positive multiple of {KernelSpecs.DecodeBlockN}, actual {keysPerSplit}");

    /// <summary>Fewest cache rows per split: two tiles, so a split's loads amortise its fixed cost.</summary>
    public const int MinKeysPerSplit = 2 * KernelSpecs.DecodeBlockN;

    /// <summary>Most splits of one call (bounds the partial states).</summary>
    public const int MaxSplits = 1024;

    private KvCacheShard? _cache;
    private int _capacity = -1;
    private int _synced;
    private BackendBuffer? _keys;
    private BackendBuffer? _values;
    private BackendBuffer? _keyPositions;
    private BackendBuffer? _workspace;

    /// <inheritdoc />
    public void Run(AttentionOptions options, KvCacheShard cache, ReadOnlySpan<float> query, ReadOnlySpan<int> queryPositions, BackendBuffer target, long byteOffset)
    {
        int tokens = queryPositions.Length, d = options.HeadDim, rows = options.Batch * tokens * options.Heads;
        Guard.AtLeast(tokens, 1, nameof(queryPositions));
        Guard.Length(query.Length, (long)rows * d, "batch × T × heads × headDim", nameof(query));
        Guard.That(byteOffset >= 0 && byteOffset % sizeof(float) == 0 && byteOffset + (long)rows * (d + 1) * sizeof(float) <= target.Bytes, nameof(byteOffset),
            $"a multiple of 4 leaving room for {rows} rows of O and LSE inside the {target.Bytes}-byte buffer", byteOffset);
        Sync(options, cache);

        var (splits, keysPerSplit) = Splits(options, cache.Length, tokens, backend.Context.Device.Multiprocessors);
        if (_keysPerSplit is int fixedKeys)
        {
            (splits, keysPerSplit) = (Math.Max(1, (cache.Length + fixedKeys - 1) / fixedKeys), fixedKeys);
        }
        long queryBytes = query.Length * sizeof(float), positionBytes = tokens * sizeof(int);
        long stateFloats = (long)rows * splits;
        long partialOBytes = stateFloats * d * sizeof(float), stateBytes = stateFloats * sizeof(float);
        long workspaceBytes = Align(queryBytes) + Align(positionBytes) + Align(partialOBytes) + 2 * Align(stateBytes);
        if (_workspace is null || _workspace.Bytes < workspaceBytes)
        {
            _workspace?.Dispose();
            _workspace = null;
            _workspace = backend.Allocate(workspaceBytes);
        }
        long queryOffset = 0, positionOffset = Align(queryBytes), partialOOffset = positionOffset + Align(positionBytes);
        long maxOffset = partialOOffset + Align(partialOBytes), sumOffset = maxOffset + Align(stateBytes);
        backend.Upload(MemoryMarshal.AsBytes(query), _workspace, queryOffset);
        backend.Upload(MemoryMarshal.AsBytes(queryPositions), _workspace, positionOffset);

        int kvHeads = options.EffectiveKvHeads;
        long capacity = _capacity;
        nint o = target.Address + (nint)byteOffset;
        float scale = options.EffectiveSoftmaxScale;
        var p = new FlashDecodeParams
        {
            Qkv = new FlashQkvParams
            {
                Q = _workspace.Address + (nint)queryOffset, K = _keys!.Address, V = _values!.Address,
                QBatchStride = (long)tokens * options.Heads * d, QRowStride = (long)options.Heads * d, QHeadStride = d,
                KBatchStride = kvHeads * capacity * d, KRowStride = d, KHeadStride = capacity * d,
                VBatchStride = kvHeads * capacity * d, VRowStride = d, VHeadStride = capacity * d,
                Batch = options.Batch, Heads = options.Heads, KvHeads = kvHeads, HeadDim = d,
            },
            QPositions = _workspace.Address + (nint)positionOffset,
            KPositions = _keyPositions!.Address,
            PartialO = _workspace.Address + (nint)partialOOffset,
            PartialMax = _workspace.Address + (nint)maxOffset,
            PartialSum = _workspace.Address + (nint)sumOffset,
            O = o,
            Lse = o + (nint)((long)rows * d * sizeof(float)),
            SeqLenQ = tokens, SeqLenK = cache.Length, Splits = splits, KeysPerSplit = keysPerSplit,
            ScaleSoftmax = scale, ScaleSoftmaxLog2 = scale * MathF.Log2(MathF.E),
            IsCausal = options.Causal ? 1 : 0, ElementType = (int)options.ElementType,
        };
        var variant = KernelVariant.Decode(options.ElementType, d);
        var decode = DecodeLaunch.Decode(variant, p);
        backend.Launch(variant, decode, p);
        var combine = DecodeLaunch.Combine(p);
        backend.Launch(KernelVariant.DecodeCombine(), combine, p);
    }

    /// <summary>
    /// How the cache splits over thread blocks: enough blocks for about two per multiprocessor, at least
    /// <see cref="MinKeysPerSplit"/> rows each (whole tiles), at most <see cref="MaxSplits"/> splits; one split
    /// (of no rows) for an empty shard.
    /// </summary>
    internal static (int Splits, int KeysPerSplit) Splits(AttentionOptions options, int cacheLength, int tokens, int multiprocessors)
    {
        int group = options.Heads / options.EffectiveKvHeads;
        long mTiles = ((long)group * tokens + KernelSpecs.DecodeBlockM - 1) / KernelSpecs.DecodeBlockM;
        long otherBlocks = options.Batch * options.EffectiveKvHeads * mTiles;
        long wanted = Math.Max(1, (2L * Math.Max(1, multiprocessors) + otherBlocks - 1) / otherBlocks);
        long keys = Math.Max(MinKeysPerSplit, RoundUp((cacheLength + wanted - 1) / wanted, KernelSpecs.DecodeBlockN));
        keys = Math.Max(keys, RoundUp((cacheLength + MaxSplits - 1) / MaxSplits, KernelSpecs.DecodeBlockN));
        int splits = (int)Math.Max(1, (cacheLength + keys - 1) / keys);
        return (splits, (int)Math.Min(keys, int.MaxValue));
    }

    /// <summary>Brings the device copy up to date with <paramref name="cache"/>: new rows only, or all after the shard grew.</summary>
    private void Sync(AttentionOptions options, KvCacheShard cache)
    {
        long rowBytes = (long)options.HeadDim * ElementTypes.SizeOf(options.ElementType);
        int heads = options.Batch * options.EffectiveKvHeads;
        if (!ReferenceEquals(cache, _cache) || cache.Capacity != _capacity)
        {
            FreeCache();
            long bytes = Math.Max(1, heads * (long)cache.Capacity * rowBytes);
            _keys = backend.Allocate(bytes);
            _values = backend.Allocate(bytes);
            _keyPositions = backend.Allocate(Math.Max(1, (long)cache.Capacity * sizeof(int)));
            (_cache, _capacity, _synced) = (cache, cache.Capacity, 0);
        }
        int fresh = cache.Length - _synced;
        if (fresh <= 0)
        {
            return;
        }
        long bytesPerHead = fresh * rowBytes;
        byte* origin = cache.KeyRow(0, 0, 0);
        for (int b = 0; b < options.Batch; b++)
        {
            for (int h = 0; h < options.EffectiveKvHeads; h++)
            {
                byte* key = cache.KeyRow(b, h, _synced), value = cache.ValueRow(b, h, _synced);
                long offset = key - origin;
                backend.Upload(new ReadOnlySpan<byte>(key, checked((int)bytesPerHead)), _keys!, offset);
                backend.Upload(new ReadOnlySpan<byte>(value, checked((int)bytesPerHead)), _values!, offset);
            }
        }
        backend.Upload(MemoryMarshal.AsBytes(cache.Positions[_synced..]), _keyPositions!, (long)_synced * sizeof(int));
        _synced = cache.Length;
    }

    private static long Align(long bytes) => RoundUp(bytes, 256);

    private static long RoundUp(long value, long multiple) => (value + multiple - 1) / multiple * multiple;

    private void FreeCache()
    {
        _keys?.Dispose();
        _values?.Dispose();
        _keyPositions?.Dispose();
        (_keys, _values, _keyPositions, _cache, _capacity, _synced) = (null, null, null, null, -1, 0);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        FreeCache();
        _workspace?.Dispose();
        _workspace = null;
    }
}
