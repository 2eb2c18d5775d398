using System.Runtime.CompilerServices;
using RingAttention.Kernels;

namespace RingAttention.Cpu;

/// <summary>
/// Which keys a query row can see (same name and rule as <c>block_info</c> in <c>kernels/</c>). Key positions grow
/// with the key index, so under the causal mask a query at position q sees exactly a prefix of the keys: those
/// at positions ≤ q. Tiles past the last row's prefix are skipped, tiles inside the first row's prefix need no mask.
/// </summary>
internal static class BlockInfo
{
    /// <summary>How many leading keys (of <c>SeqLenK</c>) the query at local row <paramref name="queryRow"/> sees.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int VisibleKeys(in FlashForwardParams p, int queryRow)
    {
        if (p.IsCausal == 0)
        {
            return p.SeqLenK;
        }
        long queryPosition = p.QPosStart + (long)queryRow * p.QPosStride;
        long lastVisible = FloorDiv(queryPosition - p.KPosStart, p.KPosStride);
        return (int)Math.Clamp(lastVisible + 1, 0, p.SeqLenK);
    }

    private static long FloorDiv(long numerator, long denominator)
    {
        long quotient = numerator / denominator;
        return (numerator % denominator != 0 && numerator < 0) ? quotient - 1 : quotient;
    }
}
