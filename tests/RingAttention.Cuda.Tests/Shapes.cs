using RingAttention.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>Forward arguments of a contiguous [batch, seq, heads, headDim] problem at 16-byte aligned stand-in addresses.</summary>
internal static class Shapes
{
    public static FlashForwardParams Params(int headDim, int seqQ, int seqK, int heads = 4, int kvHeads = 2, int batch = 1,
        ElementType type = ElementType.BFloat16, bool causal = false)
    {
        long qRow = (long)heads * headDim, kRow = (long)kvHeads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        return new FlashForwardParams
        {
            Q = 0x10000, K = 0x20000, V = 0x30000, OAccum = 0x40000, RowMax = 0x50000, RowSum = 0x60000,
            QBatchStride = seqQ * qRow, QRowStride = qRow, QHeadStride = headDim,
            KBatchStride = seqK * kRow, KRowStride = kRow, KHeadStride = headDim,
            VBatchStride = seqK * kRow, VRowStride = kRow, VHeadStride = headDim,
            OBatchStride = seqQ * qRow, ORowStride = qRow, OHeadStride = headDim,
            StatBatchStride = (long)heads * seqQ, StatHeadStride = seqQ,
            Batch = batch, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, SeqLenQ = seqQ, SeqLenK = seqK,
            QPosStart = 0, QPosStride = 1, KPosStart = 0, KPosStride = 1,
            ScaleSoftmax = scale, ScaleSoftmaxLog2 = scale * MathF.Log2(MathF.E), IsCausal = causal ? 1 : 0, ElementType = (int)type,
        };
    }
}
