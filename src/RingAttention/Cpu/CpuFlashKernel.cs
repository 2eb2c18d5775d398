using System.Collections.Concurrent;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RingAttention.Kernels;

namespace RingAttention.Cpu;

/// <summary>
/// The FlashAttention-2 style forward block kernel on the CPU: the executable specification of
/// <c>kernels/flash_fwd.cu</c>. For each (batch, KV head) the used K and V tiles are packed once into fp32 panels
/// (<see cref="Panels"/>); then every (query head, query tile) streams over the key tiles its rows can see:
/// S = Q·Kᵀ in log2 units, mask only where a tile crosses the diagonal or the ragged end, online softmax,
/// acc = acc·α + P·V, both products by the register-blocked <see cref="MicroKernels"/>. Work items go to the
/// threads heaviest first (one atomic counter, no locks) on the kernel's own <see cref="WorkerPool"/>; every buffer is
/// allocated once and reused.
/// </summary>
internal sealed unsafe class CpuFlashKernel : IDisposable
{
    /// <summary>
    /// Query rows per tile at most (<see cref="QueryTiles"/> shrinks the last ones): every K/V tile brought into
    /// cache serves this many rows, so it sets the memory traffic per FLOP. A multiple of every register block's rows.
    /// </summary>
    public const int BlockM = 96;

    /// <summary>Key rows per tile: a multiple of 4 × the widest vector.</summary>
    public const int BlockN = 64;

    /// <summary>
    /// Bytes of K and V (fp32) one pass of the query tiles streams: long key blocks are cut into chunks of about this
    /// size, every query tile finishing a chunk before any starts the next, so the chunk stays in the last-level cache
    /// while both cores sweep it instead of every query tile fetching the whole block from memory again.
    /// </summary>
    private const int KeyChunkBytes = 4 << 20;

    private readonly ConcurrentBag<TileScratch> _scratch = new();
    private readonly KeyValuePanels _panels = new();
    private readonly WorkerPool _pool;
    private int[] _tileStarts = [];

    /// <summary>The tiers whose kernel is compiled, or being compiled, ahead of its first call in this process.</summary>
    private static readonly ConcurrentDictionary<SimdTier, Task> CompiledAhead = new();

    public CpuFlashKernel(int threads, SimdTier tier)
        : this(threads, tier, compileAhead: true)
    {
    }

    private CpuFlashKernel(int threads, SimdTier tier, bool compileAhead)
    {
        Guard.AtLeast(threads, 1);
        Guard.That(SimdTiers.IsSupported(tier), nameof(tier), "a tier this machine accelerates", tier);
        Threads = threads;
        Tier = tier;
        _pool = new WorkerPool(threads);
        if (compileAhead)
        {
            // The JIT compiles a tier's kernel (several large generic methods, fully optimised) at its first call: about
            // 0.1 s on a 2-core Zen 3, which would land in the first pass a user times. A background thread runs the
            // kernel once on a tiny problem as soon as a backend exists, so the compilation overlaps the caller's setup
            // (allocating and filling the inputs) instead. A failure there would recur, and surface, in the real call.
            CompiledAhead.GetOrAdd(tier, ahead => Task.Run(() => RunTinyProblem(ahead)));
        }
    }

    /// <summary>One causal call over 128 queries and keys (two query tiles, both masks, both worker paths) on <paramref name="tier"/>.</summary>
    private static void RunTinyProblem(SimdTier tier)
    {
        const int rows = 128;
        var options = new AttentionOptions { Heads = 1, HeadDim = 64, Causal = true };
        var inputs = new float[3 * rows * options.HeadDim];
        var accumulator = new float[rows * options.HeadDim];
        var rowMax = new float[rows];
        var rowSum = new float[rows];
        Array.Fill(rowMax, float.NegativeInfinity);
        fixed (float* qkv = inputs, oAccum = accumulator, max = rowMax, sum = rowSum)
        {
            int stride = rows * options.HeadDim;
            var p = FlashForwardParams.ForContiguousTensors(options, rows, rows,
                (nint)qkv, (nint)(qkv + stride), (nint)(qkv + 2 * stride), (nint)oAccum, (nint)max, (nint)sum);
            using var kernel = new CpuFlashKernel(2, tier, compileAhead: false);
            kernel.Forward(p);
        }
    }

    public int Threads { get; }

    public SimdTier Tier { get; }

    /// <summary>Continues the running state of <paramref name="p"/> over its keys. Not re-entrant: the backend serialises calls.</summary>
    public void Forward(in FlashForwardParams p)
    {
        switch (Tier)
        {
            case SimdTier.Vector512: Forward<Simd512, SixRows>(p); break;
            case SimdTier.Vector256: Forward<Simd256, SixRowsTwoVectors>(p); break;
            default: Forward<Simd128, SixRowsTwoVectors>(p); break;
        }
    }

    private void Forward<TV, TRows>(FlashForwardParams p)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
    {
        if (p.SeqLenQ == 0 || p.SeqLenK == 0)
        {
            return;
        }
        int keysSeenByLastRow = BlockInfo.VisibleKeys(p, p.SeqLenQ - 1);
        if (keysSeenByLastRow == 0)
        {
            return;
        }
        int queryTiles = QueryTiles.Plan(p.SeqLenQ, Threads, TRows.Rows, ref _tileStarts);
        int keysPerChunk = Math.Max(BlockN, KeyChunkBytes / (p.HeadDim * 2 * sizeof(float)) / BlockN * BlockN);
        int[] tileStarts = _tileStarts;
        int group = p.Heads / p.KvHeads;
        var type = (ElementType)p.ElementType;
        int elementSize = ElementTypes.SizeOf(type);
        var panels = _panels;
        for (int b = 0; b < p.Batch; b++)
        {
            for (int kvHead = 0; kvHead < p.KvHeads; kvHead++)
            {
                int batch = b, head0 = kvHead * group;
                panels.Prepare(type,
                    (byte*)p.K + (b * p.KBatchStride + kvHead * p.KHeadStride) * elementSize, p.KRowStride,
                    (byte*)p.V + (b * p.VBatchStride + kvHead * p.VHeadStride) * elementSize, p.VRowStride,
                    p.SeqLenK, keysSeenByLastRow, p.HeadDim, TV.Width, PanelWidth<TV, TRows>());
                for (int chunkStart = 0; chunkStart < keysSeenByLastRow; chunkStart += keysPerChunk)
                {
                    int keyStart = chunkStart, keyEnd = Math.Min(keysSeenByLastRow, chunkStart + keysPerChunk);
                    // Tiles run from the last row backwards, so the tiles that see any key of the chunk come first.
                    int tiles = 0;
                    while (tiles < queryTiles && BlockInfo.VisibleKeys(p, TileEnd(tileStarts, tiles, p.SeqLenQ) - 1) > keyStart)
                    {
                        tiles++;
                    }
                    RunParallel(tiles * group, (item, scratch) =>
                    {
                        int tile = item / group;
                        int firstRow = tileStarts[tile];
                        ComputeTile<TV, TRows>(p, batch, head0 + item % group, firstRow, TileEnd(tileStarts, tile, p.SeqLenQ) - firstRow,
                            keyStart, keyEnd, panels, scratch);
                    });
                }
            }
        }
    }

    /// <summary>
    /// The K/V panel layout for a register block: blocked column panels as wide as the block for the 2-vector blocks
    /// of the 16-register tiers, row-major panels (0) for AVX-512's 4-vector blocks.
    /// </summary>
    private static int PanelWidth<TV, TRows>()
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock => TRows.Vectors == 2 ? TRows.Vectors * TV.Width : 0;

    /// <summary>The panel layout (see <see cref="KeyValuePanels.Prepare"/>) the kernel uses on <paramref name="tier"/>.</summary>
    public static int PanelWidth(SimdTier tier) => tier switch
    {
        SimdTier.Vector512 => PanelWidth<Simd512, SixRows>(),
        SimdTier.Vector256 => PanelWidth<Simd256, SixRowsTwoVectors>(),
        _ => PanelWidth<Simd128, SixRowsTwoVectors>(),
    };

    private static int TileEnd(int[] tileStarts, int tile, int rows) => tile == 0 ? rows : tileStarts[tile - 1];

    /// <summary>Continues the running state of query rows [firstRow, firstRow + rows) of one head over keys [keyStart, keyEnd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ComputeTile<TV, TRows>(in FlashForwardParams p, int b, int head, int firstRow, int rows, int keyStart, int keyEnd,
        KeyValuePanels panels, TileScratch scratch)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
    {
        int d = p.HeadDim;
        int keysSeen = Math.Min(keyEnd, BlockInfo.VisibleKeys(p, firstRow + rows - 1));
        if (keysSeen <= keyStart)
        {
            return;
        }
        int keysSeenByAll = BlockInfo.VisibleKeys(p, firstRow);
        int paddedHeadDim = panels.PaddedHeadDim;
        int paddedRows = RoundUp(rows, TRows.Rows);
        var type = (ElementType)p.ElementType;
        int elementSize = ElementTypes.SizeOf(type);
        float* q = scratch.Query;
        float* acc = scratch.Accumulator;
        float* scores = scratch.Scores;
        float* rowMax = scratch.RowMax;
        float* rowSums = scratch.RowSums;
        float* rescale = scratch.Rescale;
        long statBase = b * p.StatBatchStride + head * p.StatHeadStride + firstRow;
        float* rowMaxState = (float*)p.RowMax + statBase;
        float* rowSumState = (float*)p.RowSum + statBase;

        int w = TV.Width;
        for (int r = 0; r < paddedRows; r++)
        {
            var queryRow = new Span<float>(q + r * d, d);
            var accRow = new Span<float>(acc + r * paddedHeadDim, paddedHeadDim);
            var partialSums = new Span<float>(rowSums + r * w, w);
            partialSums.Clear();
            if (r >= rows)
            {
                queryRow.Clear();
                accRow.Clear();
                rowMax[r] = float.NegativeInfinity;
                continue;
            }
            long queryOffset = b * p.QBatchStride + (long)(firstRow + r) * p.QRowStride + head * p.QHeadStride;
            StorageConversion.Widen(type, (byte*)p.Q + queryOffset * elementSize, queryRow);
            TensorPrimitives.Multiply(queryRow, p.ScaleSoftmaxLog2, queryRow);
            new ReadOnlySpan<float>(OAccumRow(p, b, head, firstRow + r), d).CopyTo(accRow);
            accRow[d..].Clear();
            rowMax[r] = rowMaxState[r];
            partialSums[0] = rowSumState[r];
        }
        // The softmax treats rows a vector at a time: rows past the register blocks only need to be harmless.
        new Span<float>(rowMax + paddedRows, BlockM - paddedRows).Fill(float.NegativeInfinity);
        new Span<float>(rescale + paddedRows, BlockM - paddedRows).Fill(float.NegativeInfinity);

        int tiles = CeilDiv(keysSeen, BlockN);
        for (int tile = keyStart / BlockN; tile < tiles; tile++)
        {
            int firstKey = tile * BlockN;
            panels.Ensure(tile, scratch.Staging);
            if (PanelWidth<TV, TRows>() > 0)
            {
                MicroKernels.GemmPanels<TV, TRows, FromZero>(q, d, panels.KeyTile(tile), panels.KeyPanelStride, scores, BlockN, paddedRows, d, BlockN, null);
            }
            else
            {
                MicroKernels.Gemm<TV, TRows, FromZero>(q, d, panels.KeyTile(tile), BlockN, scores, BlockN, paddedRows, d, BlockN, null);
            }
            if (firstKey + BlockN > keysSeenByAll)
            {
                for (int r = 0; r < paddedRows; r++)
                {
                    int visible = BlockInfo.VisibleKeys(p, firstRow + Math.Min(r, rows - 1)) - firstKey;
                    Mask.ApplyPrefix(new Span<float>(scores + r * BlockN, BlockN), visible);
                }
            }
            Softmax.UpdateTile<TV>(scores, BlockN, paddedRows, BlockN, rowMax, rowSums, rescale, scratch.RowBase);
            // Keys past the last row's prefix have probability 0 in every row: the P·V product can stop before them.
            int keysInTile = Math.Min(BlockN, keysSeen - firstKey);
            if (PanelWidth<TV, TRows>() > 0)
            {
                MicroKernels.GemmPanels<TV, TRows, FromRescaled>(scores, BlockN, panels.ValueTile(tile), panels.ValuePanelStride, acc, paddedHeadDim,
                    paddedRows, keysInTile, paddedHeadDim, rescale);
            }
            else
            {
                MicroKernels.Gemm<TV, TRows, FromRescaled>(scores, BlockN, panels.ValueTile(tile), panels.ValueStride, acc, paddedHeadDim, paddedRows,
                    keysInTile, paddedHeadDim, rescale);
            }
        }

        for (int r = 0; r < rows; r++)
        {
            new ReadOnlySpan<float>(acc + r * paddedHeadDim, d).CopyTo(new Span<float>(OAccumRow(p, b, head, firstRow + r), d));
            rowMaxState[r] = rowMax[r];
            rowSumState[r] = Softmax.SumAcross<TV>(rowSums + r * w);
        }
    }

    private static float* OAccumRow(in FlashForwardParams p, int b, int head, int row) =>
        (float*)p.OAccum + b * p.OBatchStride + (long)row * p.ORowStride + head * p.OHeadStride;

    /// <summary>Runs <paramref name="body"/> for items 0..count−1 on up to <see cref="Threads"/> threads, each with its own scratch.</summary>
    private void RunParallel(int count, Action<int, TileScratch> body)
    {
        int workers = Math.Min(Threads, count);
        int next = -1;
        if (workers <= 1)
        {
            var scratch = RentScratch();
            for (int item = 0; item < count; item++)
            {
                body(item, scratch);
            }
            _scratch.Add(scratch);
            return;
        }
        _pool.Run(workers, () =>
        {
            var scratch = RentScratch();
            for (int item = Interlocked.Increment(ref next); item < count; item = Interlocked.Increment(ref next))
            {
                body(item, scratch);
            }
            _scratch.Add(scratch);
        });
    }

    private TileScratch RentScratch() => _scratch.TryTake(out var scratch) ? scratch : new TileScratch();

    public void Dispose()
    {
        _pool.Dispose();
        _panels.Dispose();
        while (_scratch.TryTake(out var scratch))
        {
            scratch.Dispose();
        }
    }

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;

    private static int RoundUp(int a, int multiple) => CeilDiv(a, multiple) * multiple;

    /// <summary>One worker's tiles, sized for the largest head dimension so it never grows.</summary>
    private sealed class TileScratch : IDisposable
    {
        /// <summary>Widest vector, in floats: the per-row partial sums hold one vector each.</summary>
        private const int MaxWidth = 16;

        public readonly float* Query = Allocate(BlockM * AttentionOptions.MaxHeadDim);
        public readonly float* Scores = Allocate(BlockM * BlockN);
        public readonly float* Accumulator = Allocate(BlockM * AttentionOptions.MaxHeadDim);
        public readonly float* RowMax = Allocate(BlockM);
        public readonly float* RowSums = Allocate(BlockM * MaxWidth);
        public readonly float* Rescale = Allocate(BlockM);
        public readonly float* RowBase = Allocate(BlockM);
        public readonly float* Staging = Allocate(Panels.StagingFloats);

        private static float* Allocate(int floats) => (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);

        public void Dispose()
        {
            foreach (var pointer in new[] { (nint)Query, (nint)Scores, (nint)Accumulator, (nint)RowMax, (nint)RowSums, (nint)Rescale, (nint)RowBase, (nint)Staging })
            {
                NativeMemory.AlignedFree((void*)pointer);
            }
        }
    }
}
