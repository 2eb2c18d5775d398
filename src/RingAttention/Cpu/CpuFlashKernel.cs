using System.Collections.Concurrent;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RingAttention.Kernels;

namespace RingAttention.Cpu;

/// <summary>
/// The FlashAttention-2 style forward block kernel on the CPU: the executable specification of
/// <c>kernels/flash_fwd.cu</c>. For each (batch, KV head) the used K and V tiles are packed once into fp32 panels
/// (Kᵀ as [headDim][BlockN], V as [BlockN][paddedHeadDim]); then every (query head, query tile) streams over the
/// key tiles its rows can see: S = Q·Kᵀ in log2 units, mask only where a tile crosses the diagonal or the ragged end,
/// online softmax, acc = acc·α + P·V. Work items go to the threads heaviest first, one atomic counter, no locks.
/// </summary>
internal sealed unsafe class CpuFlashKernel : IDisposable
{
    /// <summary>Query rows per tile.</summary>
    public const int BlockM = 64;

    /// <summary>Key rows per tile; a multiple of 4 × the widest vector.</summary>
    public const int BlockN = 64;

    /// <summary>Rows of the register-blocked micro-kernel.</summary>
    private const int MicroRows = 4;

    private readonly ConcurrentBag<TileScratch> _scratch = new();
    private NativeFloats _keyPanels = new();
    private NativeFloats _valuePanels = new();

    public CpuFlashKernel(int threads, SimdTier tier)
    {
        Guard.AtLeast(threads, 1);
        Guard.That(SimdTiers.IsSupported(tier), nameof(tier), "a tier this machine accelerates", tier);
        Threads = threads;
        Tier = tier;
    }

    public int Threads { get; }

    public SimdTier Tier { get; }

    /// <summary>Continues the running state of <paramref name="p"/> over its keys. Not re-entrant: the backend serialises calls.</summary>
    public void Forward(in FlashForwardParams p)
    {
        switch (Tier)
        {
            case SimdTier.Vector512: Forward<Simd512>(p); break;
            case SimdTier.Vector256: Forward<Simd256>(p); break;
            default: Forward<Simd128>(p); break;
        }
    }

    private void Forward<TV>(FlashForwardParams p) where TV : struct, ISimd<TV>
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
        int keyTiles = CeilDiv(keysSeenByLastRow, BlockN);
        int queryTiles = CeilDiv(p.SeqLenQ, BlockM);
        int group = p.Heads / p.KvHeads;
        int paddedHeadDim = RoundUp(p.HeadDim, TV.Width);
        _keyPanels.EnsureCapacity((long)keyTiles * BlockN * p.HeadDim);
        _valuePanels.EnsureCapacity((long)keyTiles * BlockN * paddedHeadDim);
        float* keyPanels = _keyPanels.Pointer;
        float* valuePanels = _valuePanels.Pointer;

        for (int b = 0; b < p.Batch; b++)
        {
            for (int kvHead = 0; kvHead < p.KvHeads; kvHead++)
            {
                int batch = b, head0 = kvHead * group;
                RunParallel(keyTiles, (tile, _) => PackKeyValueTile(p, batch, head0 / group, tile, paddedHeadDim, keyPanels, valuePanels));
                RunParallel(queryTiles * group, (item, scratch) =>
                {
                    // Later query tiles see more keys under the causal mask: hand them out first.
                    int queryTile = queryTiles - 1 - item / group;
                    ComputeTile<TV>(p, batch, head0 + item % group, queryTile, paddedHeadDim, keyPanels, valuePanels, scratch);
                });
            }
        }
    }

    private static void PackKeyValueTile(in FlashForwardParams p, int b, int kvHead, int tile, int paddedHeadDim, float* keyPanels, float* valuePanels)
    {
        int d = p.HeadDim;
        int elementSize = ElementTypes.SizeOf((ElementType)p.ElementType);
        float* keyTile = keyPanels + (long)tile * BlockN * d;
        float* valueTile = valuePanels + (long)tile * BlockN * paddedHeadDim;
        Span<float> keyRow = stackalloc float[d];
        for (int c = 0; c < BlockN; c++)
        {
            int key = tile * BlockN + c;
            var valueRow = new Span<float>(valueTile + (long)c * paddedHeadDim, paddedHeadDim);
            if (key >= p.SeqLenK)
            {
                for (int dd = 0; dd < d; dd++)
                {
                    keyTile[dd * BlockN + c] = 0f;
                }
                valueRow.Clear();
                continue;
            }
            long keyOffset = b * p.KBatchStride + key * p.KRowStride + kvHead * p.KHeadStride;
            long valueOffset = b * p.VBatchStride + key * p.VRowStride + kvHead * p.VHeadStride;
            StorageConversion.Widen((ElementType)p.ElementType, (byte*)p.K + keyOffset * elementSize, keyRow);
            StorageConversion.Widen((ElementType)p.ElementType, (byte*)p.V + valueOffset * elementSize, valueRow[..d]);
            valueRow[d..].Clear();
            for (int dd = 0; dd < d; dd++)
            {
                keyTile[dd * BlockN + c] = keyRow[dd];
            }
        }
    }

    private static void ComputeTile<TV>(
        in FlashForwardParams p, int b, int head, int queryTile, int paddedHeadDim,
        float* keyPanels, float* valuePanels, TileScratch scratch) where TV : struct, ISimd<TV>
    {
        int d = p.HeadDim;
        int firstRow = queryTile * BlockM;
        int rows = Math.Min(BlockM, p.SeqLenQ - firstRow);
        int keysSeen = BlockInfo.VisibleKeys(p, firstRow + rows - 1);
        if (keysSeen == 0)
        {
            return;
        }
        int keysSeenByAll = BlockInfo.VisibleKeys(p, firstRow);
        int paddedRows = RoundUp(rows, MicroRows);
        int elementSize = ElementTypes.SizeOf((ElementType)p.ElementType);
        var q = new Span<float>(scratch.Query, BlockM * d);
        var acc = new Span<float>(scratch.Accumulator, BlockM * paddedHeadDim);
        var rowMax = new Span<float>(scratch.RowMax, BlockM);
        var rowSum = new Span<float>(scratch.RowSum, BlockM);
        var rescale = new Span<float>(scratch.Rescale, BlockM);
        long statBase = b * p.StatBatchStride + head * p.StatHeadStride + firstRow;
        float* rowMaxState = (float*)p.RowMax + statBase;
        float* rowSumState = (float*)p.RowSum + statBase;

        for (int r = 0; r < paddedRows; r++)
        {
            var queryRow = q.Slice(r * d, d);
            var accRow = acc.Slice(r * paddedHeadDim, paddedHeadDim);
            if (r >= rows)
            {
                queryRow.Clear();
                accRow.Clear();
                rowMax[r] = float.NegativeInfinity;
                rowSum[r] = 0f;
                continue;
            }
            long queryOffset = b * p.QBatchStride + (long)(firstRow + r) * p.QRowStride + head * p.QHeadStride;
            StorageConversion.Widen((ElementType)p.ElementType, (byte*)p.Q + queryOffset * elementSize, queryRow);
            TensorPrimitives.Multiply(queryRow, p.ScaleSoftmaxLog2, queryRow);
            new ReadOnlySpan<float>(OAccumRow(p, b, head, firstRow + r), d).CopyTo(accRow);
            accRow[d..].Clear();
            rowMax[r] = rowMaxState[r];
            rowSum[r] = rowSumState[r];
        }

        ref float scores = ref Unsafe.AsRef<float>(scratch.Scores);
        int tiles = CeilDiv(keysSeen, BlockN);
        for (int tile = 0; tile < tiles; tile++)
        {
            int firstKey = tile * BlockN;
            Gemm<TV>(ref MemoryMarshal.GetReference(q), d, ref Unsafe.AsRef<float>(keyPanels + (long)tile * BlockN * d), BlockN,
                ref scores, BlockN, paddedRows, d, BlockN, ref Unsafe.NullRef<float>());
            if (firstKey + BlockN > keysSeenByAll)
            {
                for (int r = 0; r < paddedRows; r++)
                {
                    int visible = BlockInfo.VisibleKeys(p, firstRow + Math.Min(r, rows - 1)) - firstKey;
                    Mask.ApplyPrefix(new Span<float>(scratch.Scores + r * BlockN, BlockN), visible);
                }
            }
            for (int r = 0; r < paddedRows; r++)
            {
                rescale[r] = Softmax.UpdateRow<TV>(ref Unsafe.Add(ref scores, r * BlockN), BlockN, ref rowMax[r], ref rowSum[r]);
            }
            Gemm<TV>(ref scores, BlockN, ref Unsafe.AsRef<float>(valuePanels + (long)tile * BlockN * paddedHeadDim), paddedHeadDim,
                ref MemoryMarshal.GetReference(acc), paddedHeadDim, paddedRows, BlockN, paddedHeadDim, ref MemoryMarshal.GetReference(rescale));
        }

        for (int r = 0; r < rows; r++)
        {
            acc.Slice(r * paddedHeadDim, d).CopyTo(new Span<float>(OAccumRow(p, b, head, firstRow + r), d));
            rowMaxState[r] = rowMax[r];
            rowSumState[r] = rowSum[r];
        }
    }

    private static float* OAccumRow(in FlashForwardParams p, int b, int head, int row) =>
        (float*)p.OAccum + b * p.OBatchStride + (long)row * p.ORowStride + head * p.OHeadStride;

    /// <summary>
    /// C[rows][n] = C·rowScale + A[rows][k]·B[k][n], or A·B when <paramref name="rowScale"/> is a null reference.
    /// rows is a multiple of 4 and n of the vector width; 4×(4 vectors) register blocks, then 4×1 for the rest.
    /// </summary>
    private static void Gemm<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int rows, int k, int n, ref float rowScale)
        where TV : struct, ISimd<TV>
    {
        int w = TV.Width;
        bool accumulate = !Unsafe.IsNullRef(ref rowScale);
        for (int r = 0; r < rows; r += MicroRows)
        {
            ref float aRows = ref Unsafe.Add(ref a, r * lda);
            ref float cRows = ref Unsafe.Add(ref c, r * ldc);
            ref float scaleRows = ref accumulate ? ref Unsafe.Add(ref rowScale, r) : ref Unsafe.NullRef<float>();
            int column = 0;
            for (; column + 4 * w <= n; column += 4 * w)
            {
                MicroKernel4x4<TV>(ref aRows, lda, ref Unsafe.Add(ref b, column), ldb, ref Unsafe.Add(ref cRows, column), ldc, k, accumulate, ref scaleRows);
            }
            for (; column < n; column += w)
            {
                MicroKernel4x1<TV>(ref aRows, lda, ref Unsafe.Add(ref b, column), ldb, ref Unsafe.Add(ref cRows, column), ldc, k, accumulate, ref scaleRows);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Initial<TV>(ref float c, bool accumulate, float scale) where TV : struct, ISimd<TV> =>
        accumulate ? TV.Multiply(TV.Load(ref c), TV.Broadcast(scale)) : TV.Zero;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroKernel4x4<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int k, bool accumulate, ref float scale)
        where TV : struct, ISimd<TV>
    {
        int w = TV.Width;
        ref float c0 = ref c;
        ref float c1 = ref Unsafe.Add(ref c, ldc);
        ref float c2 = ref Unsafe.Add(ref c, 2 * ldc);
        ref float c3 = ref Unsafe.Add(ref c, 3 * ldc);
        float s0 = accumulate ? scale : 0f, s1 = accumulate ? Unsafe.Add(ref scale, 1) : 0f;
        float s2 = accumulate ? Unsafe.Add(ref scale, 2) : 0f, s3 = accumulate ? Unsafe.Add(ref scale, 3) : 0f;
        TV c00 = Initial<TV>(ref c0, accumulate, s0), c01 = Initial<TV>(ref Unsafe.Add(ref c0, w), accumulate, s0);
        TV c02 = Initial<TV>(ref Unsafe.Add(ref c0, 2 * w), accumulate, s0), c03 = Initial<TV>(ref Unsafe.Add(ref c0, 3 * w), accumulate, s0);
        TV c10 = Initial<TV>(ref c1, accumulate, s1), c11 = Initial<TV>(ref Unsafe.Add(ref c1, w), accumulate, s1);
        TV c12 = Initial<TV>(ref Unsafe.Add(ref c1, 2 * w), accumulate, s1), c13 = Initial<TV>(ref Unsafe.Add(ref c1, 3 * w), accumulate, s1);
        TV c20 = Initial<TV>(ref c2, accumulate, s2), c21 = Initial<TV>(ref Unsafe.Add(ref c2, w), accumulate, s2);
        TV c22 = Initial<TV>(ref Unsafe.Add(ref c2, 2 * w), accumulate, s2), c23 = Initial<TV>(ref Unsafe.Add(ref c2, 3 * w), accumulate, s2);
        TV c30 = Initial<TV>(ref c3, accumulate, s3), c31 = Initial<TV>(ref Unsafe.Add(ref c3, w), accumulate, s3);
        TV c32 = Initial<TV>(ref Unsafe.Add(ref c3, 2 * w), accumulate, s3), c33 = Initial<TV>(ref Unsafe.Add(ref c3, 3 * w), accumulate, s3);
        ref float a0 = ref a;
        ref float a1 = ref Unsafe.Add(ref a, lda);
        ref float a2 = ref Unsafe.Add(ref a, 2 * lda);
        ref float a3 = ref Unsafe.Add(ref a, 3 * lda);
        for (int kk = 0; kk < k; kk++)
        {
            ref float bRow = ref Unsafe.Add(ref b, kk * ldb);
            TV b0 = TV.Load(ref bRow), b1 = TV.Load(ref Unsafe.Add(ref bRow, w));
            TV b2 = TV.Load(ref Unsafe.Add(ref bRow, 2 * w)), b3 = TV.Load(ref Unsafe.Add(ref bRow, 3 * w));
            TV x = TV.Broadcast(Unsafe.Add(ref a0, kk));
            c00 = TV.MultiplyAdd(x, b0, c00); c01 = TV.MultiplyAdd(x, b1, c01); c02 = TV.MultiplyAdd(x, b2, c02); c03 = TV.MultiplyAdd(x, b3, c03);
            x = TV.Broadcast(Unsafe.Add(ref a1, kk));
            c10 = TV.MultiplyAdd(x, b0, c10); c11 = TV.MultiplyAdd(x, b1, c11); c12 = TV.MultiplyAdd(x, b2, c12); c13 = TV.MultiplyAdd(x, b3, c13);
            x = TV.Broadcast(Unsafe.Add(ref a2, kk));
            c20 = TV.MultiplyAdd(x, b0, c20); c21 = TV.MultiplyAdd(x, b1, c21); c22 = TV.MultiplyAdd(x, b2, c22); c23 = TV.MultiplyAdd(x, b3, c23);
            x = TV.Broadcast(Unsafe.Add(ref a3, kk));
            c30 = TV.MultiplyAdd(x, b0, c30); c31 = TV.MultiplyAdd(x, b1, c31); c32 = TV.MultiplyAdd(x, b2, c32); c33 = TV.MultiplyAdd(x, b3, c33);
        }
        TV.Store(c00, ref c0); TV.Store(c01, ref Unsafe.Add(ref c0, w)); TV.Store(c02, ref Unsafe.Add(ref c0, 2 * w)); TV.Store(c03, ref Unsafe.Add(ref c0, 3 * w));
        TV.Store(c10, ref c1); TV.Store(c11, ref Unsafe.Add(ref c1, w)); TV.Store(c12, ref Unsafe.Add(ref c1, 2 * w)); TV.Store(c13, ref Unsafe.Add(ref c1, 3 * w));
        TV.Store(c20, ref c2); TV.Store(c21, ref Unsafe.Add(ref c2, w)); TV.Store(c22, ref Unsafe.Add(ref c2, 2 * w)); TV.Store(c23, ref Unsafe.Add(ref c2, 3 * w));
        TV.Store(c30, ref c3); TV.Store(c31, ref Unsafe.Add(ref c3, w)); TV.Store(c32, ref Unsafe.Add(ref c3, 2 * w)); TV.Store(c33, ref Unsafe.Add(ref c3, 3 * w));
    }

    private static void MicroKernel4x1<TV>(ref float a, int lda, ref float b, int ldb, ref float c, int ldc, int k, bool accumulate, ref float scale)
        where TV : struct, ISimd<TV>
    {
        for (int r = 0; r < MicroRows; r++)
        {
            ref float cRow = ref Unsafe.Add(ref c, r * ldc);
            ref float aRow = ref Unsafe.Add(ref a, r * lda);
            TV sum = Initial<TV>(ref cRow, accumulate, accumulate ? Unsafe.Add(ref scale, r) : 0f);
            for (int kk = 0; kk < k; kk++)
            {
                sum = TV.MultiplyAdd(TV.Broadcast(Unsafe.Add(ref aRow, kk)), TV.Load(ref Unsafe.Add(ref b, kk * ldb)), sum);
            }
            TV.Store(sum, ref cRow);
        }
    }

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
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, _ =>
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
        _keyPanels.Dispose();
        _valuePanels.Dispose();
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
        public readonly float* Query = Allocate(BlockM * AttentionOptions.MaxHeadDim);
        public readonly float* Scores = Allocate(BlockM * BlockN);
        public readonly float* Accumulator = Allocate(BlockM * AttentionOptions.MaxHeadDim);
        public readonly float* RowMax = Allocate(BlockM);
        public readonly float* RowSum = Allocate(BlockM);
        public readonly float* Rescale = Allocate(BlockM);

        private static float* Allocate(int floats) => (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);

        public void Dispose()
        {
            foreach (var pointer in new[] { (nint)Query, (nint)Scores, (nint)Accumulator, (nint)RowMax, (nint)RowSum, (nint)Rescale })
            {
                NativeMemory.AlignedFree((void*)pointer);
            }
        }
    }

    /// <summary>A growable 64-byte aligned float array (the K/V panels), reused across calls.</summary>
    private sealed class NativeFloats : IDisposable
    {
        private long _capacity;

        public float* Pointer { get; private set; }

        public void EnsureCapacity(long floats)
        {
            if (floats <= _capacity)
            {
                return;
            }
            Dispose();
            Pointer = (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);
            _capacity = floats;
        }

        public void Dispose()
        {
            if (Pointer != null)
            {
                NativeMemory.AlignedFree(Pointer);
                Pointer = null;
                _capacity = 0;
            }
        }
    }
}
