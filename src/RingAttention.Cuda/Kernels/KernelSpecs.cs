namespace RingAttention.Cuda.Kernels;

/// <summary>The table of kernel kinds of <c>kernels/</c>.</summary>
public static class KernelSpecs
{
    /// <summary>Rows per thread block of the fp32 kernel (kWarps × kRowsPerWarp in <c>flash_fwd_fp32.cu</c>).</summary>
    public const int Fp32BlockM = 16;

    /// <summary>Keys per tile of the fp32 kernel.</summary>
    public const int Fp32BlockN = 32;

    /// <summary>Query rows (GQA heads × new tokens) per thread block of the decode kernel (kBlockM in <c>flash_decode.cu</c>).</summary>
    public const int DecodeBlockM = 16;

    /// <summary>Cache rows per tile of the decode kernel.</summary>
    public const int DecodeBlockN = 32;

    private static readonly KernelSpec[] Table =
    [
        new(KernelKind.TensorCore, "flash_fwd.cu", "flash_fwd_kernel",
            Defines: v =>
            [
                ("RA_HEAD_DIM", v.HeadDim), ("RA_BLOCK_M", v.Tiles.BlockM), ("RA_BLOCK_N", v.Tiles.BlockN), ("RA_WARPS", v.Tiles.Warps),
                ("RA_CAUSAL", v.Causal ? 1 : 0), ("RA_ELEMENT_TYPE", (int)v.ElementType),
            ],
            Threads: v => v.Tiles.Warps * 32,
            Name: v => $"fwd-{ElementTypes.ShortName(v.ElementType)}-d{v.HeadDim}-{(v.Causal ? "causal" : "full")}-{v.Tiles.BlockM}x{v.Tiles.BlockN}w{v.Tiles.Warps}",
            BlockM: v => v.Tiles.BlockM,
            // Q, K and V tiles of 16-bit elements.
            SharedBytes: (v, _) => (v.Tiles.BlockM + 2 * v.Tiles.BlockN) * v.HeadDim * 2),
        new(KernelKind.Fp32, "flash_fwd_fp32.cu", "flash_fwd_fp32_kernel",
            Defines: v => [("RA_ELEMENT_TYPE", (int)v.ElementType)],
            Threads: _ => 128,
            Name: v => $"fwd-fp32simt-{ElementTypes.ShortName(v.ElementType)}",
            BlockM: _ => Fp32BlockM,
            // fp32 Q [16][d], K [32][d + 1], V [32][d].
            SharedBytes: (_, d) => (Fp32BlockM * d + Fp32BlockN * (d + 1) + Fp32BlockN * d) * sizeof(float)),
        new(KernelKind.Finalize, "flash_finalize.cu", "flash_finalize_kernel",
            Defines: _ => [],
            Threads: _ => 256,
            Name: _ => "finalize",
            BlockM: _ => 0,
            SharedBytes: (_, _) => 0),
        new(KernelKind.Decode, "flash_decode.cu", "flash_decode_kernel",
            Defines: v => [("RA_ELEMENT_TYPE", (int)v.ElementType), ("RA_HEAD_DIM", v.HeadDim)],
            Threads: _ => 128,
            Name: v => $"decode-{ElementTypes.ShortName(v.ElementType)}-{(v.HeadDim == 0 ? "dany" : $"d{v.HeadDim}")}",
            BlockM: _ => DecodeBlockM,
            // fp32 Q [16][d], K [32][d + 1], V [32][d].
            SharedBytes: (_, d) => (DecodeBlockM * d + DecodeBlockN * (d + 1) + DecodeBlockN * d) * sizeof(float)),
        new(KernelKind.DecodeCombine, "flash_decode_combine.cu", "flash_decode_combine_kernel",
            Defines: _ => [],
            Threads: _ => 256,
            Name: _ => "decode-combine",
            BlockM: _ => 0,
            SharedBytes: (_, _) => 0),
    ];

    /// <summary>Every row, in <see cref="KernelKind"/> order.</summary>
    public static IReadOnlyList<KernelSpec> All => Table;

    /// <summary>The row of <paramref name="kind"/>.</summary>
    public static KernelSpec Of(KernelKind kind) =>
        Array.Find(Table, spec => spec.Kind == kind) ?? throw new ArgumentOutOfRangeException(nameof(kind), $"kind: expected a kind with a spec, actual {kind}");
}
