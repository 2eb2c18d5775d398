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

    /// <summary>
    /// The tensor-core kernel's tiles, keyed by compiled head dim, causal flag and device (compute capability and
    /// shared memory per block); the first row that serves a call wins (<see cref="KernelVariant.TensorCore"/>). They
    /// follow FlashAttention-2 where registers allow: 32 query rows per warp up to head dim 128 (each K/V fragment
    /// feeds two MMAs), 16 above.
    /// </summary>
    public static IReadOnlyList<TileChoice> TensorCoreTiles { get; } =
    [
        new(64, null, 80, new TileShape(128, 64, 4), "128 query rows, 4 warps (FlashAttention-2 takes 128 keys here; untuned without a GPU)"),
        new(128, false, 80, new TileShape(128, 64, 4), "FlashAttention-2's head-dim-128 tiles"),
        new(128, true, 90, new TileShape(128, 64, 4), "sm_90's ptxas fits the causal mask beside 128×64 accumulators: 255 registers, no spills"),
        new(128, true, 80, new TileShape(128, 32, 4), "on sm_80 the causal mask beside 128×64 accumulators spills (255 registers, 12 B), so 32-key tiles"),
        new(192, null, 80, new TileShape(64, 64, 4), "16 query rows per warp: 32 would need 256 accumulator registers"),
        new(256, null, 80, new TileShape(128, 64, 8), "FlashAttention-2 on A100 and H100: 8 warps of 16 rows, 128 KB of shared memory (with 4 warps of 32 rows it spills 2 KB)"),
        new(256, null, 80, new TileShape(64, 64, 4), "devices with less than 128 KB per block (sm_86, sm_89: 99 KB), as FlashAttention-2 falls back"),
    ];

    /// <summary>Every row, in <see cref="KernelKind"/> order.</summary>
    public static IReadOnlyList<KernelSpec> All => Table;

    /// <summary>The row of <paramref name="kind"/>.</summary>
    public static KernelSpec Of(KernelKind kind) =>
        Array.Find(Table, spec => spec.Kind == kind) ?? throw new ArgumentOutOfRangeException(nameof(kind), $"kind: expected a kind with a spec, actual {kind}");
}
