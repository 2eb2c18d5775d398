using System.Runtime.CompilerServices;

namespace RingAttention.Cpu;

/// <summary>
/// Applies the causal mask and the ragged last tile to a score tile (same name as <c>mask</c> in <c>kernels/</c>):
/// each row sees a prefix of the tile's columns (see <see cref="BlockInfo"/>), everything after it becomes −inf.
/// </summary>
internal static class Mask
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ApplyPrefix(Span<float> scoreRow, int visibleColumns)
    {
        if (visibleColumns < scoreRow.Length)
        {
            scoreRow.Slice(Math.Max(visibleColumns, 0)).Fill(float.NegativeInfinity);
        }
    }
}
