using RingAttention.Kernels;

namespace RingAttention.Cuda.Kernels;

/// <summary>The kernel kinds of <c>kernels/</c>; each has a row in <see cref="KernelSpecs"/>.</summary>
public enum KernelKind
{
    /// <summary><c>flash_fwd.cu</c>: the tensor-core forward kernel (fp16/bf16, head dims up to 256 in multiples of 8).</summary>
    TensorCore,
    /// <summary><c>flash_fwd_fp32.cu</c>: the fp32 SIMT forward kernel (every type, head dim and alignment).</summary>
    Fp32,
    /// <summary><c>flash_finalize.cu</c>: O and LSE from the running state.</summary>
    Finalize,
    /// <summary><c>flash_decode.cu</c>: the split-KV decode kernel (every storage type; head dims 64 and 128 compiled in, others at run time).</summary>
    Decode,
    /// <summary><c>flash_decode_combine.cu</c>: merges the decode kernel's per-split states into the rank's partial O and LSE.</summary>
    DecodeCombine,
}

/// <summary>Tile shape of a tensor-core variant.</summary>
/// <param name="BlockM">Query rows per thread block.</param>
/// <param name="BlockN">Keys per K/V tile.</param>
/// <param name="Warps">Warps per thread block.</param>
public readonly record struct TileShape(int BlockM, int BlockN, int Warps);

/// <summary>
/// One compiled form of a kernel: its source, entry point and the -D defines that specialise it (part of the
/// cache key). Tensor-core variants are built per (storage type, head dim 64/128/192/256, causal) with the tiles the
/// device takes (<see cref="KernelSpecs.TensorCoreTiles"/>); a run-time head dim that is a multiple of 8 uses the
/// smallest of those at least as large.
/// </summary>
public sealed record KernelVariant
{
    /// <summary>Head dims the tensor-core kernel is built for.</summary>
    public static readonly IReadOnlyList<int> TensorCoreHeadDims = [64, 128, 192, 256];

    private KernelVariant(KernelKind kind, ElementType type, int headDim, bool causal, TileShape tiles)
    {
        Kind = kind;
        ElementType = type;
        HeadDim = headDim;
        Causal = causal;
        Tiles = tiles;
    }

    /// <summary>Which kernel.</summary>
    public KernelKind Kind { get; }

    /// <summary>Storage type compiled in (tensor-core and fp32 kernels; the finalize kernel takes it at run time).</summary>
    public ElementType ElementType { get; }

    /// <summary>Head dim compiled in (tensor-core kernel only; 0 otherwise).</summary>
    public int HeadDim { get; }

    /// <summary>Causal mask compiled in (tensor-core kernel only).</summary>
    public bool Causal { get; }

    /// <summary>Tile shape (tensor-core kernel only).</summary>
    public TileShape Tiles { get; }

    /// <summary>The kind's row of the spec table.</summary>
    public KernelSpec Spec => KernelSpecs.Of(Kind);

    /// <summary>The .cu file.</summary>
    public string SourceFile => Spec.SourceFile;

    /// <summary>The extern "C" kernel name.</summary>
    public string EntryPoint => Spec.EntryPoint;

    /// <summary>The -D defines, in a fixed order.</summary>
    public IReadOnlyList<(string Name, int Value)> Defines => Spec.Defines(this);

    /// <summary>Threads per block.</summary>
    public int Threads => Spec.Threads(this);

    /// <summary>A short name for logs and tables, e.g. <c>fwd-bf16-d128-causal-128x32w4</c>.</summary>
    public string Name => Spec.Name(this);

    /// <summary>
    /// The tensor-core variant for a compiled head dim on <paramref name="device"/>: the tiles of the first row of
    /// <see cref="KernelSpecs.TensorCoreTiles"/> that serves it.
    /// </summary>
    public static KernelVariant TensorCore(ElementType type, int headDim, bool causal, DeviceLimits device)
    {
        Guard.That(type is ElementType.Float16 or ElementType.BFloat16, nameof(type), "Float16 or BFloat16", type);
        Guard.That(TensorCoreHeadDims.Contains(headDim), nameof(headDim), $"one of {string.Join(", ", TensorCoreHeadDims)}", headDim);
        var row = KernelSpecs.TensorCoreTiles.FirstOrDefault(r => r.Serves(headDim, causal, device))
            ?? throw new NotSupportedException($"no tensor-core tile shape for head dim {headDim} fits {device}");
        return new KernelVariant(KernelKind.TensorCore, type, headDim, causal, row.Tiles);
    }

    /// <summary>The fp32 SIMT variant reading <paramref name="type"/>.</summary>
    public static KernelVariant Fp32(ElementType type) => new(KernelKind.Fp32, type, 0, false, default);

    /// <summary>The finalize kernel.</summary>
    public static KernelVariant Finalize() => new(KernelKind.Finalize, ElementType.Float32, 0, false, default);

    /// <summary>Head dims the decode kernel is built for; any other runs the variant that reads the head dim at run time (0).</summary>
    public static readonly IReadOnlyList<int> DecodeHeadDims = [64, 128];

    /// <summary>The split-KV decode variant for a cache of <paramref name="type"/> and a run-time head dim.</summary>
    public static KernelVariant Decode(ElementType type, int headDim)
    {
        Guard.InRange(headDim, 1, AttentionOptions.MaxHeadDim);
        return new KernelVariant(KernelKind.Decode, type, DecodeHeadDims.Contains(headDim) ? headDim : 0, false, default);
    }

    /// <summary>The decode combine kernel.</summary>
    public static KernelVariant DecodeCombine() => new(KernelKind.DecodeCombine, ElementType.Float32, 0, false, default);

    /// <summary>Every variant the backend can launch on <paramref name="device"/> (the CI compile test builds those of each targeted device).</summary>
    public static IEnumerable<KernelVariant> All(DeviceLimits device)
    {
        foreach (var type in new[] { ElementType.Float16, ElementType.BFloat16 })
        {
            foreach (int headDim in TensorCoreHeadDims)
            {
                yield return TensorCore(type, headDim, causal: false, device);
                yield return TensorCore(type, headDim, causal: true, device);
            }
        }
        foreach (var type in new[] { ElementType.Float32, ElementType.Float16, ElementType.BFloat16 })
        {
            yield return Fp32(type);
        }
        yield return Finalize();
        foreach (var type in new[] { ElementType.Float32, ElementType.Float16, ElementType.BFloat16 })
        {
            yield return Decode(type, 64);
            yield return Decode(type, 128);
            yield return Decode(type, 1);
        }
        yield return DecodeCombine();
    }

    /// <summary>The smallest compiled head dim that holds <paramref name="headDim"/>.</summary>
    public static int CompiledHeadDim(int headDim)
    {
        Guard.InRange(headDim, 1, AttentionOptions.MaxHeadDim);
        return TensorCoreHeadDims.First(d => d >= headDim);
    }

    /// <summary>
    /// The kernel that runs <paramref name="p"/> on <paramref name="device"/>: the tensor-core kernel when the operands are 16-bit, the head dim a
    /// multiple of 8, and every address and stride allows 16-byte loads; otherwise the fp32 kernel, with the reason.
    /// </summary>
    internal static KernelVariant ForForward(in FlashForwardParams p, DeviceLimits device, out string? whyNotTensorCores)
    {
        whyNotTensorCores = TensorCoreObstacle(p);
        return whyNotTensorCores is null
            ? TensorCore((ElementType)p.ElementType, CompiledHeadDim(p.HeadDim), p.IsCausal != 0, device)
            : Fp32((ElementType)p.ElementType);
    }

    private static string? TensorCoreObstacle(in FlashForwardParams p)
    {
        var type = (ElementType)p.ElementType;
        if (type == ElementType.Float32)
        {
            return "fp32 operands take the fp32 kernel";
        }
        if (p.HeadDim % 8 != 0)
        {
            return $"head dim {p.HeadDim} is not a multiple of 8 (16-byte rows)";
        }
        if ((p.Q | p.K | p.V) % 16 != 0)
        {
            return "Q, K or V is not 16-byte aligned";
        }
        long[] strides = [p.QBatchStride, p.QRowStride, p.QHeadStride, p.KBatchStride, p.KRowStride, p.KHeadStride, p.VBatchStride, p.VRowStride, p.VHeadStride];
        if (strides.Any(s => s % 8 != 0))
        {
            return "a Q, K or V stride is not a multiple of 8 elements";
        }
        if (p.OAccum % 8 != 0 || p.ORowStride % 2 != 0 || p.OBatchStride % 2 != 0 || p.OHeadStride % 2 != 0)
        {
            return "OAccum is not 8-byte aligned or an OAccum stride is odd (float2 accesses)";
        }
        // Offsets inside a tile are 32-bit in the kernel.
        if (Math.Max(p.QRowStride, Math.Max(p.KRowStride, p.VRowStride)) * 256 > int.MaxValue)
        {
            return "a row stride is too large for 32-bit offsets inside a tile";
        }
        return null;
    }
}
