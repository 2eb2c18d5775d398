using RingAttention.Kernels;

namespace RingAttention.Cuda.Kernels;

/// <summary>Grid, block and dynamic shared memory of one launch.</summary>
/// <param name="Grid">Thread blocks.</param>
/// <param name="Block">Threads per block.</param>
/// <param name="SharedBytes">Dynamic shared memory per block in bytes.</param>
public readonly record struct LaunchGeometry(Dim3 Grid, Dim3 Block, int SharedBytes)
{
    /// <summary>The largest grid y and z the hardware takes.</summary>
    public const int MaxGridYZ = 65535;

    /// <summary>
    /// Forward: one block per (query tile, head, batch); query tiles along x, launched in reverse so the tiles that
    /// see the most keys under the causal mask start first.
    /// </summary>
    internal static LaunchGeometry Forward(KernelVariant variant, in FlashForwardParams p)
    {
        Guard.InRange(p.Heads, 1, MaxGridYZ, nameof(p.Heads));
        Guard.InRange(p.Batch, 1, MaxGridYZ, nameof(p.Batch));
        Guard.That(variant.Kind != KernelKind.Finalize, nameof(variant), "a forward kernel", "the finalize kernel");
        int blockM = variant.Spec.BlockM(variant);
        uint queryTiles = (uint)((p.SeqLenQ + blockM - 1) / blockM);
        int shared = variant.Spec.SharedBytes(variant, p.HeadDim);
        return new LaunchGeometry(new Dim3(queryTiles, (uint)p.Heads, (uint)p.Batch), new Dim3((uint)variant.Threads), shared);
    }

    /// <summary>Finalize: one warp per (batch, row, head), 8 warps per block.</summary>
    internal static LaunchGeometry Finalize(in FlashFinalizeParams p)
    {
        long rows = (long)p.Batch * p.SeqLenQ * p.Heads;
        long blocks = (rows + 7) / 8;
        Guard.InRange(blocks, 0, int.MaxValue, "batch × rows × heads / 8");
        return new LaunchGeometry(new Dim3((uint)blocks), new Dim3(32, 8), 0);
    }
}
