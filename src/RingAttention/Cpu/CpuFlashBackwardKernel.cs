using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using RingAttention.Kernels;

namespace RingAttention.Cpu;

/// <summary>
/// The FlashAttention-2 style backward block kernel on the CPU. <see cref="Preprocess"/> runs once per rank:
/// D = rowsum(dO ∘ O) in fp32 and a zeroed fp32 dQ accumulator. <see cref="Backward(in FlashBackwardParams)"/> then
/// adds one (query rows, key rows) pair's contributions to the fp32 dQ, dK and dV accumulators, as often as the ring
/// hands it key blocks; <see cref="Convert"/> casts an accumulator to the storage type once at the end.
/// <para>
/// Per (batch, KV head) the query side is packed once (<see cref="QueryPanels"/>); then each worker owns whole K/V
/// column tiles of <see cref="BlockN"/> keys (<see cref="KeyTileSchedule"/>), keeps their dK and dV in fp32 over every
/// query head of the GQA group and every query tile that sees them, and for each such tile runs the five products
/// on the register-blocked <see cref="MicroKernels"/>: Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ, then Pᵀ = exp2(Sᵀ − LSE·log2 e)
/// (from the final LSE; masked by position, rows with LSE = −inf zero), dV += Pᵀ·dO, dSᵀ = Pᵀ ∘ (dPᵀ − D),
/// dK += dSᵀ·Q, and dQ += dS·K into the worker's own fp32 partial. dK and dV need no atomics (one owner per tile);
/// the partials are summed into the dQ accumulator in worker order afterwards, so the result is deterministic for
/// a given thread count.
/// </para>
/// </summary>
public sealed unsafe class CpuFlashBackwardKernel : IDisposable
{
    /// <summary>
    /// Query rows per tile: a multiple of <see cref="RowQuantum"/>. Every product's inner dimension or row count is
    /// a tile side, so larger tiles mean fewer loads and stores of the accumulators per FLOP.
    /// </summary>
    public const int BlockM = 96;

    /// <summary>Keys per K/V column tile: a multiple of <see cref="RowQuantum"/>.</summary>
    public const int BlockN = 96;

    /// <summary>
    /// Ragged tiles are padded to a multiple of this: 16 (the in-register transpose and the widest vector) and 6 (the
    /// register blocks' rows on every tier) both divide it.
    /// </summary>
    private const int RowQuantum = 48;

    private readonly WorkerPool _pool;
    private readonly QueryPanels _queries = new();
    private readonly KeyTileSchedule _schedule = new();
    private readonly Scratch?[] _scratch;
    private int[] _costs = [];
    private bool _disposed;

    /// <summary>Creates a kernel using <paramref name="threads"/> threads (default: all cores) and the given or widest SIMD tier.</summary>
    public CpuFlashBackwardKernel(int? threads = null, SimdTier? tier = null)
    {
        int threadCount = threads ?? Environment.ProcessorCount;
        Guard.InRange(threadCount, 1, 4096, nameof(threads));
        var simd = tier ?? SimdTiers.Best;
        Guard.That(SimdTiers.IsSupported(simd), nameof(tier), "a tier this machine accelerates", simd);
        Threads = threadCount;
        Tier = simd;
        _pool = new WorkerPool(threadCount);
        _scratch = new Scratch?[threadCount];
    }

    /// <summary>Threads each call uses.</summary>
    public int Threads { get; }

    /// <summary>The SIMD tier in use.</summary>
    public SimdTier Tier { get; }

    /// <summary>
    /// Single-device backward over whole contiguous tensors: Q, O, dO and dQ [batch, N, heads, headDim], K, V, dK and dV
    /// [batch, N, kvHeads, headDim], LSE [batch, heads, N] (fp32, natural log, as the forward wrote it). Runs the
    /// preprocess, one kernel call over all keys and the convert step.
    /// </summary>
    public void Backward<T>(AttentionOptions options, int sequenceLength, ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v,
        ReadOnlySpan<T> o, ReadOnlySpan<T> dO, ReadOnlySpan<float> lse, Span<T> dQ, Span<T> dK, Span<T> dV)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Guard.AtLeast(sequenceLength, 0);
        Guard.That(options.ElementType == ElementTypes.Of<T>(), "options.ElementType", $"{ElementTypes.Of<T>()} (the tensors' element type)",
            options.ElementType);
        long queryElements = (long)options.Batch * sequenceLength * options.QueryRowElements;
        long keyElements = (long)options.Batch * sequenceLength * options.KeyRowElements;
        Guard.Length(q.Length, queryElements, "batch × N × heads × headDim");
        Guard.Length(k.Length, keyElements, "batch × N × kvHeads × headDim");
        Guard.Length(v.Length, keyElements, "batch × N × kvHeads × headDim");
        Guard.Length(o.Length, queryElements, "batch × N × heads × headDim");
        Guard.Length(dO.Length, queryElements, "batch × N × heads × headDim");
        Guard.Length(lse.Length, (long)options.Batch * options.Heads * sequenceLength, "batch × heads × N");
        Guard.Length(dQ.Length, queryElements, "batch × N × heads × headDim");
        Guard.Length(dK.Length, keyElements, "batch × N × kvHeads × headDim");
        Guard.Length(dV.Length, keyElements, "batch × N × kvHeads × headDim");
        var dQAccum = new float[queryElements];
        var dKAccum = new float[keyElements];
        var dVAccum = new float[keyElements];
        var dSum = new float[lse.Length];
        fixed (T* pq = q, pk = k, pv = v, po = o, pdo = dO)
        fixed (float* pl = lse, pd = dSum, pdq = dQAccum, pdk = dKAccum, pdv = dVAccum)
        {
            var p = FlashBackwardParams.ForContiguousTensors(options, sequenceLength, sequenceLength, (nint)pq, (nint)pk, (nint)pv, (nint)po,
                (nint)pdo, (nint)pl, (nint)pd, (nint)pdq, (nint)pdk, (nint)pdv);
            Preprocess(p);
            Backward(p);
        }
        Convert(dQAccum, options.ElementType, MemoryMarshal.AsBytes(dQ));
        Convert(dKAccum, options.ElementType, MemoryMarshal.AsBytes(dK));
        Convert(dVAccum, options.ElementType, MemoryMarshal.AsBytes(dV));
    }

    /// <summary>
    /// Once per rank, before any <see cref="Backward(in FlashBackwardParams)"/> call: writes D = rowsum(dO ∘ O) (fp32,
    /// computed from the stored O and dO) to <see cref="FlashBackwardParams.DSum"/> and zeroes
    /// <see cref="FlashBackwardParams.DQAccum"/> for the query rows. K, V, LSE and the dK/dV accumulators are not read.
    /// </summary>
    internal void Preprocess(in FlashBackwardParams args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var p = args;
        ValidateShape(p);
        if (p.SeqLenQ == 0)
        {
            return;
        }
        Require(p.O, nameof(p.O));
        Require(p.DO, nameof(p.DO));
        Require(p.DSum, nameof(p.DSum));
        Require(p.DQAccum, nameof(p.DQAccum));
        var type = (ElementType)p.ElementType;
        int elementSize = ElementTypes.SizeOf(type), d = p.Qkv.HeadDim;
        int rows = p.Qkv.Batch * p.SeqLenQ;
        RunParallel(rows, item =>
        {
            int b = item / p.SeqLenQ, row = item % p.SeqLenQ;
            Span<float> output = stackalloc float[d];
            Span<float> grad = stackalloc float[d];
            for (int head = 0; head < p.Qkv.Heads; head++)
            {
                StorageConversion.Widen(type, (byte*)p.O + (b * p.OBatchStride + (long)row * p.ORowStride + head * p.OHeadStride) * elementSize, output);
                StorageConversion.Widen(type, (byte*)p.DO + (b * p.DOBatchStride + (long)row * p.DORowStride + head * p.DOHeadStride) * elementSize, grad);
                ((float*)p.DSum)[b * p.StatBatchStride + head * p.StatHeadStride + row] = TensorPrimitives.Dot(output, grad);
                new Span<float>((float*)p.DQAccum + b * p.DQAccumBatchStride + (long)row * p.DQAccumRowStride + head * p.DQAccumHeadStride, d).Clear();
            }
        });
    }

    /// <summary>
    /// Adds the gradient contributions of the call's query rows and key rows to the dQ, dK and dV accumulators (fp32,
    /// scale applied). Not re-entrant: callers serialise calls on one kernel.
    /// </summary>
    internal void Backward(in FlashBackwardParams args)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Validate(args);
        switch (Tier)
        {
            case SimdTier.Vector512: Backward<Simd512, SixRows>(args); break;
            case SimdTier.Vector256: Backward<Simd256, SixRowsTwoVectors>(args); break;
            default: Backward<Simd128, SixRowsTwoVectors>(args); break;
        }
    }

    /// <summary>Casts an fp32 accumulator to <paramref name="type"/> (round to nearest even): the last step of the backward.</summary>
    public static void Convert(ReadOnlySpan<float> accumulator, ElementType type, Span<byte> destination)
    {
        Guard.That(Enum.IsDefined(type), nameof(type), "Float32, Float16 or BFloat16", type);
        Guard.Length(destination.Length, (long)accumulator.Length * ElementTypes.SizeOf(type), $"accumulator.Length × {ElementTypes.SizeOf(type)} bytes");
        fixed (byte* target = destination)
        {
            StorageConversion.Narrow(accumulator, type, target);
        }
    }

    /// <summary>Checks everything a <see cref="Backward(in FlashBackwardParams)"/> call reads; the exception names the field.</summary>
    internal static void Validate(in FlashBackwardParams p)
    {
        ValidateShape(p);
        if (p.SeqLenQ == 0 || p.SeqLenK == 0)
        {
            return;
        }
        Require(p.Qkv.Q, nameof(p.Qkv.Q));
        Require(p.Qkv.K, nameof(p.Qkv.K));
        Require(p.Qkv.V, nameof(p.Qkv.V));
        Require(p.DO, nameof(p.DO));
        Require(p.Lse, nameof(p.Lse));
        Require(p.DSum, nameof(p.DSum));
        Require(p.DQAccum, nameof(p.DQAccum));
        Require(p.DKAccum, nameof(p.DKAccum));
        Require(p.DVAccum, nameof(p.DVAccum));
        Guard.AtLeast(p.QPosStride, 1, nameof(p.QPosStride));
        Guard.AtLeast(p.KPosStride, 1, nameof(p.KPosStride));
        Guard.That(float.IsFinite(p.ScaleSoftmax) && p.ScaleSoftmax > 0, nameof(p.ScaleSoftmax), "a finite positive value", p.ScaleSoftmax);
    }

    private static void ValidateShape(in FlashBackwardParams p)
    {
        Guard.That(Enum.IsDefined((ElementType)p.ElementType), nameof(p.ElementType), "Float32 (0), Float16 (1) or BFloat16 (2)", p.ElementType);
        Guard.AtLeast(p.Qkv.Batch, 1, nameof(p.Qkv.Batch));
        Guard.AtLeast(p.Qkv.KvHeads, 1, nameof(p.Qkv.KvHeads));
        Guard.That(p.Qkv.Heads >= 1 && p.Qkv.Heads % p.Qkv.KvHeads == 0, nameof(p.Qkv.Heads), $"a positive multiple of KvHeads ({p.Qkv.KvHeads})", p.Qkv.Heads);
        Guard.InRange(p.Qkv.HeadDim, 1, AttentionOptions.MaxHeadDim, nameof(p.Qkv.HeadDim));
        Guard.AtLeast(p.SeqLenQ, 0, nameof(p.SeqLenQ));
        Guard.AtLeast(p.SeqLenK, 0, nameof(p.SeqLenK));
    }

    private static void Require(nint pointer, string name) => Guard.That(pointer != 0, name, "a pointer to the tensor", "null");

    /// <summary>The forward's view of the positions and mask, so <see cref="BlockInfo"/> serves both directions.</summary>
    private static FlashForwardParams MaskOf(in FlashBackwardParams p) => new()
    {
        SeqLenQ = p.SeqLenQ, SeqLenK = p.SeqLenK, QPosStart = p.QPosStart, QPosStride = p.QPosStride,
        KPosStart = p.KPosStart, KPosStride = p.KPosStride, IsCausal = p.IsCausal,
    };

    private void Backward<TV, TRows>(FlashBackwardParams p)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
    {
        if (p.SeqLenQ == 0 || p.SeqLenK == 0)
        {
            return;
        }
        var mask = MaskOf(p);
        int keysSeen = BlockInfo.VisibleKeys(mask, p.SeqLenQ - 1);
        if (keysSeen == 0)
        {
            return;
        }
        int group = p.Qkv.Heads / p.Qkv.KvHeads, d = p.Qkv.HeadDim;
        int paddedHeadDim = RoundUp(d, TV.Width);
        int queryTiles = CeilDiv(p.SeqLenQ, BlockM), keyTiles = CeilDiv(keysSeen, BlockN);
        if (_costs.Length < keyTiles)
        {
            _costs = new int[Math.Max(keyTiles, 2 * _costs.Length)];
        }
        for (int tile = 0; tile < keyTiles; tile++)
        {
            int cost = 0;
            for (int queryTile = 0; queryTile < queryTiles; queryTile++)
            {
                int lastRow = Math.Min(p.SeqLenQ, (queryTile + 1) * BlockM) - 1;
                cost += BlockInfo.VisibleKeys(mask, lastRow) > tile * BlockN ? 1 : 0;
            }
            _costs[tile] = cost;
        }
        var schedule = _schedule;
        schedule.Plan(_costs.AsSpan(0, keyTiles), Threads);
        int workers = schedule.Workers;
        for (int w = 0; w < workers; w++)
        {
            (_scratch[w] ??= new Scratch()).Prepare(group, queryTiles, paddedHeadDim);
        }
        var queries = _queries;
        queries.Prepare(group, queryTiles, d, paddedHeadDim);
        var scratches = _scratch;
        for (int b = 0; b < p.Qkv.Batch; b++)
        {
            for (int kvHead = 0; kvHead < p.Qkv.KvHeads; kvHead++)
            {
                int batch = b, head0 = kvHead * group;
                RunParallel(group * queryTiles, item => queries.Pack(p, batch, head0 + item / queryTiles, item / queryTiles, item % queryTiles));
                int nextWorker = -1;
                _pool.Run(workers, () =>
                {
                    int worker = Interlocked.Increment(ref nextWorker);
                    var scratch = scratches[worker]!;
                    scratch.Untouch();
                    for (int tile = 0; tile < keyTiles; tile++)
                    {
                        if (schedule.Owner(tile) == worker)
                        {
                            ComputeKeyTile<TV, TRows>(p, batch, kvHead, group, tile, queries, scratch);
                        }
                    }
                });
                RunParallel(group * queryTiles, item => ReduceQueryGrad(p, batch, head0, item / queryTiles, item % queryTiles, workers, paddedHeadDim));
            }
        }
    }

    /// <summary>
    /// dK and dV of key tile <paramref name="tile"/> over every query head of the group and every query tile that sees
    /// it, added to the accumulators at the end; dQ contributions go to the worker's partial.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ComputeKeyTile<TV, TRows>(in FlashBackwardParams p, int b, int kvHead, int group, int tile, QueryPanels queries,
        Scratch scratch)
        where TV : struct, ISimd<TV>
        where TRows : struct, IRowBlock
    {
        var mask = MaskOf(p);
        var type = (ElementType)p.ElementType;
        int elementSize = ElementTypes.SizeOf(type);
        int d = p.Qkv.HeadDim, paddedHeadDim = queries.PaddedHeadDim, w = TV.Width;
        int firstKey = tile * BlockN, count = Math.Min(BlockN, p.SeqLenK - firstKey);
        int keyRows = RoundUp(count, RowQuantum);
        float* keys = scratch.Keys, values = scratch.Values, keyGrad = scratch.KeyGrad, valueGrad = scratch.ValueGrad;
        float* scores = scratch.Scores, scoreGrads = scratch.ScoreGrads, scoreGradsT = scratch.ScoreGradsTransposed;
        float* limits = scratch.Limits, ones = scratch.Ones;
        new Span<float>(keys, keyRows * paddedHeadDim).Clear();
        new Span<float>(values, keyRows * paddedHeadDim).Clear();
        new Span<float>(keyGrad, keyRows * paddedHeadDim).Clear();
        new Span<float>(valueGrad, keyRows * paddedHeadDim).Clear();
        for (int r = 0; r < count; r++)
        {
            long keyOffset = b * p.Qkv.KBatchStride + (long)(firstKey + r) * p.Qkv.KRowStride + kvHead * p.Qkv.KHeadStride;
            StorageConversion.Widen(type, (byte*)p.Qkv.K + keyOffset * elementSize, new Span<float>(keys + r * paddedHeadDim, d));
            long valueOffset = b * p.Qkv.VBatchStride + (long)(firstKey + r) * p.Qkv.VRowStride + kvHead * p.Qkv.VHeadStride;
            StorageConversion.Widen(type, (byte*)p.Qkv.V + valueOffset * elementSize, new Span<float>(values + r * paddedHeadDim, d));
        }

        int queryTiles = CeilDiv(p.SeqLenQ, BlockM);
        for (int slot = 0; slot < group; slot++)
        {
            for (int queryTile = 0; queryTile < queryTiles; queryTile++)
            {
                int firstRow = queryTile * BlockM, rows = Math.Min(BlockM, p.SeqLenQ - firstRow);
                if (BlockInfo.VisibleKeys(mask, firstRow + rows - 1) <= firstKey)
                {
                    continue;
                }
                int columns = RoundUp(rows, RowQuantum);
                float* live = queries.Live(slot, queryTile);
                bool unmasked = BlockInfo.VisibleKeys(mask, firstRow) >= firstKey + count;
                for (int c = 0; c < columns; c++)
                {
                    int visible = c >= rows ? 0 : unmasked ? count : Math.Clamp(BlockInfo.VisibleKeys(mask, firstRow + c) - firstKey, 0, count);
                    limits[c] = c < rows ? visible * live[c] : 0f;
                }

                MicroKernels.Gemm<TV, TRows, FromZero>(keys, paddedHeadDim, queries.ScaledQueryTransposed(slot, queryTile), BlockM, scores, BlockM,
                    keyRows, d, columns, null);
                MicroKernels.Gemm<TV, TRows, FromZero>(values, paddedHeadDim, queries.OutputGradTransposed(slot, queryTile), BlockM, scoreGrads,
                    BlockM, keyRows, d, columns, null);
                // Pᵀ = exp2(Sᵀ − LSE·log2 e), zero where the key is masked or the row saw nothing; dSᵀ = Pᵀ ∘ (dPᵀ − D).
                // exp2 clamps its argument, which would turn NaN into 0: adding x − x (0, or NaN for NaN) keeps NaN visible.
                float* negativeLse = queries.NegativeLseLog2(slot, queryTile), dSum = queries.DSum(slot, queryTile);
                for (int r = 0; r < keyRows; r++)
                {
                    float* scoreRow = scores + r * BlockM, gradRow = scoreGrads + r * BlockM;
                    for (int c = 0; c < columns; c += w)
                    {
                        var exponent = TV.Add(TV.Load(ref scoreRow[c]), TV.Load(ref negativeLse[c]));
                        var probability = TV.Add(TV.Exp2(exponent), TV.Subtract(exponent, exponent));
                        probability = TV.ZeroWhereBelow(probability, TV.Load(ref limits[c]), r + 1);
                        TV.Store(probability, ref scoreRow[c]);
                        var gradient = TV.Multiply(probability, TV.Subtract(TV.Load(ref gradRow[c]), TV.Load(ref dSum[c])));
                        TV.Store(TV.ZeroWhereBelow(gradient, TV.Load(ref limits[c]), r + 1), ref gradRow[c]);
                    }
                }
                MicroKernels.Gemm<TV, TRows, FromRescaled>(scores, BlockM, queries.OutputGrad(slot, queryTile), paddedHeadDim, valueGrad, paddedHeadDim,
                    keyRows, rows, paddedHeadDim, ones);
                MicroKernels.Gemm<TV, TRows, FromRescaled>(scoreGrads, BlockM, queries.Query(slot, queryTile), paddedHeadDim, keyGrad, paddedHeadDim,
                    keyRows, rows, paddedHeadDim, ones);
                Transpose(scoreGrads, BlockM, scoreGradsT, BlockN, keyRows, columns);
                float* partial = scratch.Touch(slot, queryTile, paddedHeadDim);
                MicroKernels.Gemm<TV, TRows, FromRescaled>(scoreGradsT, BlockN, keys, paddedHeadDim, partial, paddedHeadDim, columns, count,
                    paddedHeadDim, ones);
            }
        }

        for (int r = 0; r < count; r++)
        {
            long keyOffset = b * p.DKAccumBatchStride + (long)(firstKey + r) * p.DKAccumRowStride + kvHead * p.DKAccumHeadStride;
            var keyAccum = new Span<float>((float*)p.DKAccum + keyOffset, d);
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(keyGrad + r * paddedHeadDim, d), p.ScaleSoftmax, keyAccum, keyAccum);
            long valueOffset = b * p.DVAccumBatchStride + (long)(firstKey + r) * p.DVAccumRowStride + kvHead * p.DVAccumHeadStride;
            var valueAccum = new Span<float>((float*)p.DVAccum + valueOffset, d);
            TensorPrimitives.Add(new ReadOnlySpan<float>(valueGrad + r * paddedHeadDim, d), valueAccum, valueAccum);
        }
    }

    /// <summary>Writes the transpose of the [rows][columns] block (both multiples of 16) at <paramref name="source"/>.</summary>
    private static void Transpose(float* source, long sourceStride, float* destination, long destinationStride, int rows, int columns)
    {
        int square = Avx512F.IsSupported ? 16 : 8;
        for (int r = 0; r < rows; r += square)
        {
            for (int c = 0; c < columns; c += square)
            {
                float* from = source + r * sourceStride + c, to = destination + c * destinationStride + r;
                if (Avx512F.IsSupported)
                {
                    Panels.Transpose16x16(from, sourceStride, to, destinationStride);
                }
                else if (Avx.IsSupported)
                {
                    Transpose8x8(from, sourceStride, to, destinationStride);
                }
                else
                {
                    for (int i = 0; i < square; i++)
                    {
                        for (int j = 0; j < square; j++)
                        {
                            to[j * destinationStride + i] = from[i * sourceStride + j];
                        }
                    }
                }
            }
        }
    }

    /// <summary>The 8×8 transpose in AVX registers: interleave pairs of rows, then pairs of pairs, then swap 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* source, long sourceStride, float* destination, long destinationStride)
    {
        var r0 = Avx.LoadVector256(source);
        var r1 = Avx.LoadVector256(source + sourceStride);
        var r2 = Avx.LoadVector256(source + 2 * sourceStride);
        var r3 = Avx.LoadVector256(source + 3 * sourceStride);
        var r4 = Avx.LoadVector256(source + 4 * sourceStride);
        var r5 = Avx.LoadVector256(source + 5 * sourceStride);
        var r6 = Avx.LoadVector256(source + 6 * sourceStride);
        var r7 = Avx.LoadVector256(source + 7 * sourceStride);
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        // 0x44 takes elements 0, 1 of each operand's 128-bit lane, 0xEE elements 2, 3.
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // 0x20 joins the low lanes of both operands, 0x31 the high lanes.
        Avx.Store(destination, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(destination + destinationStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(destination + 2 * destinationStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(destination + 3 * destinationStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(destination + 4 * destinationStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(destination + 5 * destinationStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(destination + 6 * destinationStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(destination + 7 * destinationStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>dQ rows of one query tile of one head += scale · the workers' partials, summed in worker order.</summary>
    private void ReduceQueryGrad(in FlashBackwardParams p, int b, int head0, int slot, int queryTile, int workers, int paddedHeadDim)
    {
        int d = p.Qkv.HeadDim, firstRow = queryTile * BlockM, rows = Math.Min(BlockM, p.SeqLenQ - firstRow);
        Span<float> sum = stackalloc float[d];
        for (int r = 0; r < rows; r++)
        {
            sum.Clear();
            bool any = false;
            for (int worker = 0; worker < workers; worker++)
            {
                float* partial = _scratch[worker]!.Partial(slot, queryTile, paddedHeadDim);
                if (partial != null)
                {
                    TensorPrimitives.Add(sum, new ReadOnlySpan<float>(partial + r * paddedHeadDim, d), sum);
                    any = true;
                }
            }
            if (any)
            {
                long offset = b * p.DQAccumBatchStride + (long)(firstRow + r) * p.DQAccumRowStride + (head0 + slot) * p.DQAccumHeadStride;
                var accum = new Span<float>((float*)p.DQAccum + offset, d);
                TensorPrimitives.MultiplyAdd(sum, p.ScaleSoftmax, accum, accum);
            }
        }
    }

    /// <summary>Runs <paramref name="body"/> for items 0..count−1 on up to <see cref="Threads"/> threads (items write disjoint memory).</summary>
    private void RunParallel(int count, Action<int> body)
    {
        int workers = Math.Min(Threads, count);
        int next = -1;
        _pool.Run(workers, () =>
        {
            for (int item = Interlocked.Increment(ref next); item < count; item = Interlocked.Increment(ref next))
            {
                body(item);
            }
        });
    }

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;

    private static int RoundUp(int a, int multiple) => CeilDiv(a, multiple) * multiple;

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _pool.Dispose();
        _queries.Dispose();
        foreach (var scratch in _scratch)
        {
            scratch?.Dispose();
        }
    }

    /// <summary>One worker's tiles (sized for the largest head dimension) and its dQ partial (grown to the call).</summary>
    private sealed class Scratch : IDisposable
    {
        private const int MaxDim = AttentionOptions.MaxHeadDim;

        public readonly float* Keys = Allocate(BlockN * MaxDim);
        public readonly float* Values = Allocate(BlockN * MaxDim);
        public readonly float* KeyGrad = Allocate(BlockN * MaxDim);
        public readonly float* ValueGrad = Allocate(BlockN * MaxDim);
        public readonly float* Scores = Allocate(BlockN * BlockM);
        public readonly float* ScoreGrads = Allocate(BlockN * BlockM);
        public readonly float* ScoreGradsTransposed = Allocate(BlockM * BlockN);
        public readonly float* Limits = Allocate(BlockM);
        public readonly float* Ones = Allocate(BlockM);

        private float* _partial;
        private long _partialCapacity;
        private bool[] _touched = [];
        private int _queryTiles;

        public Scratch() => new Span<float>(Ones, BlockM).Fill(1f);

        /// <summary>Sizes the dQ partial for <paramref name="heads"/> × <paramref name="queryTiles"/> tiles.</summary>
        public void Prepare(int heads, int queryTiles, int paddedHeadDim)
        {
            _queryTiles = queryTiles;
            long floats = (long)heads * queryTiles * BlockM * paddedHeadDim;
            if (floats > _partialCapacity)
            {
                NativeMemory.AlignedFree(_partial);
                _partial = Allocate(floats);
                _partialCapacity = floats;
            }
            if (_touched.Length < heads * queryTiles)
            {
                _touched = new bool[heads * queryTiles];
            }
        }

        /// <summary>Marks every partial tile as untouched (all zero, not yet written).</summary>
        public void Untouch() => Array.Clear(_touched);

        /// <summary>The partial tile of (head slot, query tile), zeroed on first use.</summary>
        public float* Touch(int slot, int queryTile, int paddedHeadDim)
        {
            float* tile = _partial + ((long)slot * _queryTiles + queryTile) * BlockM * paddedHeadDim;
            if (!_touched[slot * _queryTiles + queryTile])
            {
                new Span<float>(tile, BlockM * paddedHeadDim).Clear();
                _touched[slot * _queryTiles + queryTile] = true;
            }
            return tile;
        }

        /// <summary>The partial tile of (head slot, query tile), or null when this worker added nothing to it.</summary>
        public float* Partial(int slot, int queryTile, int paddedHeadDim) =>
            _touched[slot * _queryTiles + queryTile] ? _partial + ((long)slot * _queryTiles + queryTile) * BlockM * paddedHeadDim : null;

        private static float* Allocate(long floats) => (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);

        public void Dispose()
        {
            foreach (var pointer in new[] { (nint)Keys, (nint)Values, (nint)KeyGrad, (nint)ValueGrad, (nint)Scores, (nint)ScoreGrads,
                (nint)ScoreGradsTransposed, (nint)Limits, (nint)Ones, (nint)_partial })
            {
                NativeMemory.AlignedFree((void*)pointer);
            }
        }
    }
}
