using System.Runtime.CompilerServices;

namespace RingAttention.Cpu;

/// <summary>
/// The online softmax step for a score tile, in log2 units (same name as <c>softmax</c> in <c>kernels/</c>).
/// Scores arrive already multiplied by scale·log2 e, so each probability is one subtraction and one exp2. A row
/// that has seen only −inf keeps max −inf: the exponent uses 0 in its place, so −inf − (−inf) never makes NaN
/// and the row's probabilities, sum and rescale factor stay 0.
/// <para>
/// NaN is never hidden, at no cost in the hot loop: <c>Exp2</c> returns NaN for NaN (and +inf − +inf is NaN), so a
/// NaN score (NaN in the query row, or in a key row the mask does not hide) makes the row's probability, partial
/// sum and accumulator NaN, whatever the maxima (which use MaxNative and may drop a NaN) say. The mask writes −inf
/// over hidden scores, so a NaN key that a row cannot see does not reach that row.
/// </para>
/// <para>
/// The running sum of a row is kept as one vector of partial sums (one per lane) while a query tile streams over
/// its keys, so no tile pays for a horizontal sum; <see cref="SumAcross{TV}"/> folds it once at the end. The
/// per-row maxima, bases and rescale factors are computed for a whole vector of rows at a time.
/// </para>
/// </summary>
internal static unsafe class Softmax
{
    /// <summary>
    /// Turns the first <paramref name="columns"/> scores of each of <paramref name="rows"/> rows (stride
    /// <paramref name="stride"/>) into unnormalised probabilities in place, updates <paramref name="rowMax"/> and the
    /// per-row partial-sum vectors <paramref name="rowSums"/> ([rows][width]), and writes the factor each row's
    /// accumulator must be rescaled by to <paramref name="rescale"/>. The per-row arrays, and
    /// <paramref name="rowBase"/> (scratch), have room for <paramref name="rows"/> rounded up to the vector width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void UpdateTile<TV>(float* scores, int stride, int rows, int columns, float* rowMax, float* rowSums, float* rescale, float* rowBase)
        where TV : struct, ISimd<TV>
    {
        int w = TV.Width;
        // The tile's maximum of each row, parked in rescale until the vectorised pass below replaces it.
        for (int r = 0; r < rows; r++)
        {
            float* row = scores + (nint)r * stride;
            var max = TV.Load(ref *row);
            for (int c = w; c < columns; c += w)
            {
                max = TV.Max(max, TV.Load(ref *(row + c)));
            }
            rescale[r] = TV.MaxAcross(max);
        }
        for (int r = 0; r < rows; r += w)
        {
            // Rows past the last are padding: whatever they hold, nothing reads their results.
            var previous = TV.Load(ref *(rowMax + r));
            var updated = TV.Max(previous, TV.Load(ref *(rescale + r)));
            // −inf (nothing seen yet) becomes 0 as the exponent's base; every finite float is ≥ float.MinValue.
            var exponentBase = TV.ZeroWhereBelow(updated, updated, float.MinValue);
            TV.Store(updated, ref *(rowMax + r));
            TV.Store(exponentBase, ref *(rowBase + r));
            TV.Store(TV.Exp2(TV.Subtract(previous, exponentBase)), ref *(rescale + r));
        }
        for (int r = 0; r < rows; r++)
        {
            float* row = scores + (nint)r * stride;
            var exponentBase = TV.Broadcast(rowBase[r]);
            var sum = TV.Zero;
            for (int c = 0; c < columns; c += w)
            {
                var probability = TV.Exp2(TV.Subtract(TV.Load(ref *(row + c)), exponentBase));
                TV.Store(probability, ref *(row + c));
                sum = TV.Add(sum, probability);
            }
            float* partial = rowSums + (nint)r * w;
            TV.Store(TV.MultiplyAdd(TV.Load(ref *partial), TV.Broadcast(rescale[r]), sum), ref *partial);
        }
    }

    /// <summary>A row's running sum from its vector of partial sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross<TV>(float* partialSums) where TV : struct, ISimd<TV> => TV.SumAcross(TV.Load(ref *partialSums));
}
