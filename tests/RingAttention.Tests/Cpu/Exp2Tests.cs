using RingAttention.Cpu;

namespace RingAttention.Tests.Cpu;

/// <summary>
/// The softmax's vector exp2 on every tier against Math.Pow(2, x) in float64, over its domain x ≤ 127: within 2 fp32 ulp wherever the result
/// is a normal float, within 2^−126 (the smallest normal) where it is not, exactly 0 for x ≤ −150 and −inf, and
/// exact at the integers.
/// </summary>
public sealed class Exp2Tests
{
    public static TheoryData<SimdTier> Tiers() => new(Enum.GetValues<SimdTier>());

    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void AccurateToFp32RoundingOverItsRange(SimdTier tier)
    {
        Skip.IfNot(SimdTiers.IsSupported(tier), $"{tier} is not accelerated on this machine");
        var inputs = new List<float>();
        for (int i = 0; i <= 400_000; i++)
        {
            inputs.Add(-160f + 287f * i / 400_000f);
        }
        // Near the rounding boundary of the range reduction (n = round(x) switches at half-integers) and at ±0.
        for (int n = -150; n <= 127; n++)
        {
            inputs.AddRange([n - 0.5f, MathF.BitDecrement(n - 0.5f), MathF.BitIncrement(n - 0.5f), n + 0.4999999f, MathF.BitIncrement((float)n)]);
        }
        inputs.AddRange([0f, -0f, float.Epsilon, -float.Epsilon, 127f]);
        // The domain ends at 127: the softmax only ever asks for x ≤ 0.
        inputs.RemoveAll(x => x > 127f);
        var results = Evaluate(tier, inputs.ToArray());
        double worstUlps = 0;
        for (int i = 0; i < inputs.Count; i++)
        {
            double exact = Math.Pow(2, inputs[i]);
            double error = Math.Abs(results[i] - exact);
            Assert.False(float.IsNaN(results[i]), $"exp2({inputs[i]:R}) is NaN");
            if (exact >= Math.Pow(2, -126))
            {
                double ulp = Math.ScaleB(1.0, Math.ILogB(exact) - 23);
                worstUlps = Math.Max(worstUlps, error / ulp);
                Assert.True(error <= 2 * ulp, $"exp2({inputs[i]:R}) = {results[i]:R}, exact {exact:R}: {error / ulp:F2} ulp");
            }
            else
            {
                Assert.True(error <= Math.Pow(2, -126), $"exp2({inputs[i]:R}) = {results[i]:R}, exact {exact:R}: error above the smallest normal");
            }
        }
        Assert.True(worstUlps > 0, "the comparison ran on normal results");
    }

    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void MaskedScoresGiveExactZerosAndIntegersExactPowers(SimdTier tier)
    {
        Skip.IfNot(SimdTiers.IsSupported(tier), $"{tier} is not accelerated on this machine");
        float[] zeros = [float.NegativeInfinity, -1e30f, -1000f, -150f, -150.5f, float.MinValue];
        Assert.All(Evaluate(tier, zeros), value => Assert.Equal(0f, value));
        var integers = Enumerable.Range(-126, 254).Select(n => (float)n).ToArray();
        var powers = Evaluate(tier, integers);
        for (int i = 0; i < integers.Length; i++)
        {
            Assert.Equal(MathF.ScaleB(1f, (int)integers[i]), powers[i]);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Tiers))]
    public void NaNStaysNaN(SimdTier tier)
    {
        // A NaN score must not become a probability of 0: PyTorch propagates NaN, so must the softmax.
        Skip.IfNot(SimdTiers.IsSupported(tier), $"{tier} is not accelerated on this machine");
        Assert.All(Evaluate(tier, [float.NaN, 1f, float.NaN, -200f]).Where((_, i) => i % 2 == 0), value => Assert.True(float.IsNaN(value)));
        Assert.All(Evaluate(tier, [float.PositiveInfinity - float.PositiveInfinity]), value => Assert.True(float.IsNaN(value)));
    }

    /// <summary>Runs <paramref name="x"/> through the tier's Exp2, one vector at a time (the tail padded with zeros).</summary>
    private static float[] Evaluate(SimdTier tier, float[] x) => tier switch
    {
        SimdTier.Vector512 => Evaluate<Simd512>(x),
        SimdTier.Vector256 => Evaluate<Simd256>(x),
        _ => Evaluate<Simd128>(x),
    };

    private static float[] Evaluate<TV>(float[] x) where TV : struct, ISimd<TV>
    {
        int w = TV.Width;
        var padded = new float[(x.Length + w - 1) / w * w];
        x.CopyTo(padded, 0);
        var result = new float[padded.Length];
        for (int i = 0; i < padded.Length; i += w)
        {
            TV.Store(TV.Exp2(TV.Load(ref padded[i])), ref result[i]);
        }
        return result[..x.Length];
    }
}
