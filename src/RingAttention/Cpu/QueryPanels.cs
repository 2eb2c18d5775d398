using System.Runtime.InteropServices;
using RingAttention.Kernels;

namespace RingAttention.Cpu;

/// <summary>
/// The query side of the backward kernel, packed once per (batch, KV head) into fp32 so that every K/V column tile
/// walking the query tiles streams ready operands: for each query head of the group and each tile of
/// <see cref="CpuFlashBackwardKernel.BlockM"/> rows, Qᵀ scaled to log2 units and dOᵀ as [headDim][BlockM] (the B
/// panels of Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ), Q and dO as [BlockM][paddedHeadDim] (the B panels of dK += dSᵀ·Q and
/// dV += Pᵀ·dO), and per row −LSE·log2 e, D and whether the row saw any key. Rows past the end and columns past the
/// head dimension are zero.
/// </summary>
internal sealed unsafe class QueryPanels : IDisposable
{
    private const int BlockM = CpuFlashBackwardKernel.BlockM;

    private float* _panels;
    private long _capacity;
    private long _tileFloats;
    private int _headDim, _paddedHeadDim, _tiles;

    /// <summary>Elements of the padded head dimension: a row of the Q and dO panels.</summary>
    public int PaddedHeadDim => _paddedHeadDim;

    /// <summary>Sizes the panels for <paramref name="heads"/> query heads of <paramref name="tiles"/> tiles each.</summary>
    public void Prepare(int heads, int tiles, int headDim, int paddedHeadDim)
    {
        _headDim = headDim;
        _paddedHeadDim = paddedHeadDim;
        _tiles = tiles;
        _tileFloats = 2L * headDim * BlockM + 2L * BlockM * paddedHeadDim + 3L * BlockM;
        _tileFloats = (_tileFloats + 15) / 16 * 16;
        long floats = heads * tiles * _tileFloats;
        if (floats > _capacity)
        {
            NativeMemory.AlignedFree(_panels);
            _panels = (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);
            _capacity = floats;
        }
    }

    private float* Tile(int head, int tile) => _panels + ((long)head * _tiles + tile) * _tileFloats;

    /// <summary>Qᵀ · scale · log2 e, [headDim][BlockM].</summary>
    public float* ScaledQueryTransposed(int head, int tile) => Tile(head, tile);

    /// <summary>dOᵀ, [headDim][BlockM].</summary>
    public float* OutputGradTransposed(int head, int tile) => Tile(head, tile) + (long)_headDim * BlockM;

    /// <summary>Q, [BlockM][paddedHeadDim].</summary>
    public float* Query(int head, int tile) => Tile(head, tile) + 2L * _headDim * BlockM;

    /// <summary>dO, [BlockM][paddedHeadDim].</summary>
    public float* OutputGrad(int head, int tile) => Query(head, tile) + (long)BlockM * _paddedHeadDim;

    /// <summary>−LSE · log2 e per row (0 for a row that saw no key).</summary>
    public float* NegativeLseLog2(int head, int tile) => OutputGrad(head, tile) + (long)BlockM * _paddedHeadDim;

    /// <summary>D = rowsum(dO ∘ O) per row.</summary>
    public float* DSum(int head, int tile) => NegativeLseLog2(head, tile) + BlockM;

    /// <summary>1 for a row that saw some key (finite or NaN LSE), 0 for a row with LSE = −inf or past the end.</summary>
    public float* Live(int head, int tile) => DSum(head, tile) + BlockM;

    /// <summary>Packs rows [tile·BlockM, +rows) of query head <paramref name="head"/> (global index) into slot <paramref name="slot"/>.</summary>
    public void Pack(in FlashBackwardParams p, int b, int head, int slot, int tile)
    {
        var type = (ElementType)p.ElementType;
        int elementSize = ElementTypes.SizeOf(type);
        int d = _headDim, firstRow = tile * BlockM, rows = Math.Min(BlockM, p.SeqLenQ - firstRow);
        float* queryT = ScaledQueryTransposed(slot, tile), gradT = OutputGradTransposed(slot, tile);
        float* query = Query(slot, tile), grad = OutputGrad(slot, tile);
        float* negativeLse = NegativeLseLog2(slot, tile), dSum = DSum(slot, tile), live = Live(slot, tile);
        new Span<float>(queryT, 2 * d * BlockM).Clear();
        new Span<float>(query, 2 * BlockM * _paddedHeadDim).Clear();
        new Span<float>(negativeLse, 3 * BlockM).Clear();
        long statBase = b * p.StatBatchStride + head * p.StatHeadStride + firstRow;
        for (int r = 0; r < rows; r++)
        {
            long queryOffset = b * p.Qkv.QBatchStride + (long)(firstRow + r) * p.Qkv.QRowStride + head * p.Qkv.QHeadStride;
            var queryRow = new Span<float>(query + r * _paddedHeadDim, d);
            StorageConversion.Widen(type, (byte*)p.Qkv.Q + queryOffset * elementSize, queryRow);
            long gradOffset = b * p.DOBatchStride + (long)(firstRow + r) * p.DORowStride + head * p.DOHeadStride;
            var gradRow = new Span<float>(grad + r * _paddedHeadDim, d);
            StorageConversion.Widen(type, (byte*)p.DO + gradOffset * elementSize, gradRow);
            for (int c = 0; c < d; c++)
            {
                queryT[c * BlockM + r] = queryRow[c] * p.ScaleSoftmaxLog2;
                gradT[c * BlockM + r] = gradRow[c];
            }
            float lse = ((float*)p.Lse)[statBase + r];
            bool sawKeys = !float.IsNegativeInfinity(lse);
            negativeLse[r] = sawKeys ? -lse * MathF.Log2(MathF.E) : 0f;
            live[r] = sawKeys ? 1f : 0f;
            dSum[r] = ((float*)p.DSum)[statBase + r];
        }
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_panels);
        _panels = null;
        _capacity = 0;
    }
}
