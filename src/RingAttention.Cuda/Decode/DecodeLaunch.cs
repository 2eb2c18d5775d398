using RingAttention.Cuda.Kernels;
using RingAttention.Kernels;

namespace RingAttention.Cuda.Decode;

/// <summary>Launch geometry of the decode kernels (as <see cref="LaunchGeometry"/> for the forward).</summary>
internal static class DecodeLaunch
{
    /// <summary>
    /// The split-KV kernel: one block per (split, KV head × m-tile, batch); an m-tile is <see cref="KernelSpecs.DecodeBlockM"/>
    /// of the group's heads × new tokens rows.
    /// </summary>
    public static LaunchGeometry Decode(KernelVariant variant, in FlashDecodeParams p)
    {
        Guard.That(variant.Kind == KernelKind.Decode, nameof(variant), "the decode kernel", variant.Kind);
        Guard.InRange(p.Qkv.Batch, 1, LaunchGeometry.MaxGridYZ, "Batch");
        Guard.AtLeast(p.Splits, 1, nameof(p.Splits));
        Guard.That((long)p.Splits * p.KeysPerSplit >= p.SeqLenK, nameof(p.KeysPerSplit), $"Splits · KeysPerSplit ≥ SeqLenK ({p.SeqLenK})", (long)p.Splits * p.KeysPerSplit);
        long group = p.Qkv.Heads / p.Qkv.KvHeads;
        long mTiles = (group * p.SeqLenQ + KernelSpecs.DecodeBlockM - 1) / KernelSpecs.DecodeBlockM;
        long y = p.Qkv.KvHeads * mTiles;
        Guard.InRange(y, 1, LaunchGeometry.MaxGridYZ, "kvHeads × ⌈group × T / 16⌉");
        return new LaunchGeometry(new Dim3((uint)p.Splits, (uint)y, (uint)p.Qkv.Batch), new Dim3((uint)variant.Threads),
            variant.Spec.SharedBytes(variant, p.Qkv.HeadDim));
    }

    /// <summary>The combine: one warp per output row (batch × T × heads), 8 warps per block.</summary>
    public static LaunchGeometry Combine(in FlashDecodeParams p)
    {
        long rows = (long)p.Qkv.Batch * p.SeqLenQ * p.Qkv.Heads;
        long blocks = (rows + 7) / 8;
        Guard.InRange(blocks, 1, int.MaxValue, "batch × T × heads / 8");
        return new LaunchGeometry(new Dim3((uint)blocks), new Dim3(32, 8), 0);
    }
}
