using System.Runtime.CompilerServices;

namespace RingAttention.Cpu;

/// <summary>
/// The online softmax step for one row of a score tile, in log2 units (same name as <c>softmax</c> in
/// <c>kernels/</c>). Scores arrive already multiplied by scale·log2 e, so each probability is one subtraction and
/// one exp2. A row that has seen only −inf keeps max −inf: the exponent uses 0 in its place, so −inf − (−inf)
/// never makes NaN and the row's probabilities and sum stay 0.
/// </summary>
internal static class Softmax
{
    /// <summary>
    /// Turns <paramref name="scores"/> into unnormalised probabilities in place, updates the running max and sum,
    /// and returns the factor by which the row's accumulator must be rescaled.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float UpdateRow<TV>(ref float scores, int columns, ref float rowMax, ref float rowSum)
        where TV : struct, ISimd<TV>
    {
        var maxVector = TV.Broadcast(float.NegativeInfinity);
        for (int c = 0; c < columns; c += TV.Width)
        {
            maxVector = TV.Max(maxVector, TV.Load(ref Unsafe.Add(ref scores, c)));
        }
        float previousMax = rowMax;
        float newMax = MathF.Max(previousMax, TV.MaxAcross(maxVector));
        float exponentBase = float.IsNegativeInfinity(newMax) ? 0f : newMax;
        var baseVector = TV.Broadcast(exponentBase);
        var sumVector = TV.Zero;
        for (int c = 0; c < columns; c += TV.Width)
        {
            ref float slot = ref Unsafe.Add(ref scores, c);
            var probability = SimdMath.Exp2(TV.Subtract(TV.Load(ref slot), baseVector));
            TV.Store(probability, ref slot);
            sumVector = TV.Add(sumVector, probability);
        }
        float rescale = float.Exp2(previousMax - exponentBase);
        rowSum = rowSum * rescale + TV.SumAcross(sumVector);
        rowMax = newMax;
        return rescale;
    }
}
