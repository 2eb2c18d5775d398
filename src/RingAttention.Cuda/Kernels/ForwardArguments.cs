using RingAttention.Kernels;

namespace RingAttention.Cuda.Kernels;

/// <summary>
/// Checks of a <see cref="FlashForwardParams"/> at the backend's boundary: the GPU kernels index with the values
/// as given, so anything out of range must stop here with a message naming the field.
/// </summary>
internal static class ForwardArguments
{
    /// <summary>Keys past SeqLenK whose positions the tensor-core mask computes (its widest tile, with margin).</summary>
    public const int PositionMargin = 256;

    public static void Validate(in FlashForwardParams p)
    {
        Guard.AtLeast(p.Batch, 1, nameof(p.Batch));
        Guard.AtLeast(p.Heads, 1, nameof(p.Heads));
        Guard.AtLeast(p.KvHeads, 1, nameof(p.KvHeads));
        Guard.That(p.Heads % p.KvHeads == 0, nameof(p.Heads), $"a multiple of KvHeads ({p.KvHeads})", p.Heads);
        Guard.InRange(p.HeadDim, 1, AttentionOptions.MaxHeadDim, nameof(p.HeadDim));
        Guard.AtLeast(p.SeqLenQ, 0, nameof(p.SeqLenQ));
        Guard.AtLeast(p.SeqLenK, 0, nameof(p.SeqLenK));
        Guard.AtLeast(p.QPosStride, 1, nameof(p.QPosStride));
        Guard.AtLeast(p.KPosStride, 1, nameof(p.KPosStride));
        Guard.That(float.IsFinite(p.ScaleSoftmaxLog2) && p.ScaleSoftmaxLog2 > 0, nameof(p.ScaleSoftmaxLog2), "a finite positive value", p.ScaleSoftmaxLog2);
        Guard.That(Enum.IsDefined((ElementType)p.ElementType), nameof(p.ElementType), "0 (Float32), 1 (Float16) or 2 (BFloat16)", p.ElementType);
        // The kernels compute positions in 32-bit arithmetic.
        CheckPositions(p.QPosStart, p.QPosStride, p.SeqLenQ, nameof(p.QPosStart));
        CheckPositions(p.KPosStart, p.KPosStride, (long)p.SeqLenK + PositionMargin, nameof(p.KPosStart));
        Guard.That(p.Q != 0 && p.K != 0 && p.V != 0 && p.OAccum != 0 && p.RowMax != 0 && p.RowSum != 0, "pointers", "non-null Q, K, V, OAccum, RowMax and RowSum", "a null pointer");
    }

    public static void Validate(in FlashFinalizeParams p)
    {
        Guard.AtLeast(p.Batch, 1, nameof(p.Batch));
        Guard.AtLeast(p.Heads, 1, nameof(p.Heads));
        Guard.InRange(p.HeadDim, 1, AttentionOptions.MaxHeadDim, nameof(p.HeadDim));
        Guard.AtLeast(p.SeqLenQ, 0, nameof(p.SeqLenQ));
        Guard.That(Enum.IsDefined((ElementType)p.ElementType), nameof(p.ElementType), "0 (Float32), 1 (Float16) or 2 (BFloat16)", p.ElementType);
    }

    private static void CheckPositions(int start, int stride, long count, string name)
    {
        long last = start + Math.Max(count - 1, 0) * stride;
        Guard.That(start >= int.MinValue / 2 && last <= int.MaxValue, name, $"positions within 32 bits (start + count·stride ≤ {int.MaxValue})", last);
    }
}
