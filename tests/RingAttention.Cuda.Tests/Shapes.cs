using RingAttention.Kernels;

namespace RingAttention.Cuda.Tests;

/// <summary>Forward arguments of a contiguous [batch, seq, heads, headDim] problem at 16-byte aligned stand-in addresses.</summary>
internal static class Shapes
{
    public static FlashForwardParams Params(int headDim, int seqQ, int seqK, int heads = 4, int kvHeads = 2, int batch = 1,
        ElementType type = ElementType.BFloat16, bool causal = false)
    {
        var options = new AttentionOptions { Batch = batch, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Causal = causal, ElementType = type };
        return FlashForwardParams.ForContiguousTensors(options, seqQ, seqK, 0x10000, 0x20000, 0x30000, 0x40000, 0x50000, 0x60000);
    }
}
