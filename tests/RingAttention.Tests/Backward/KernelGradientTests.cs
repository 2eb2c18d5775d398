using RingAttention.Cpu;
using Xunit.Abstractions;

namespace RingAttention.Tests.Backward;

/// <summary>
/// The CPU backward kernel (single device: preprocess, one call over all keys, convert) against the float64 oracle,
/// within twice the error of a naive same-precision backward plus a floor.
/// </summary>
public sealed class KernelGradientTests(ITestOutputHelper output)
{
    public static TheoryData<int, int, bool> LengthsAndHeadDims()
    {
        var data = new TheoryData<int, int, bool>();
        foreach (int n in new[] { 1, 7, 64, 129 })
        {
            foreach (int d in new[] { 16, 64, 80, 128, 256 })
            {
                data.Add(n, d, false);
                data.Add(n, d, true);
            }
        }
        // The long sequence at the fast-path head dimensions only: the naive references are O(N²·D) per head.
        foreach (int d in new[] { 64, 128 })
        {
            data.Add(1000, d, false);
            data.Add(1000, d, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(LengthsAndHeadDims))]
    public void MatchesFloat64Reference(int n, int headDim, bool causal)
    {
        int heads = n >= 1000 ? 1 : 2;
        AssertWithinTolerance(new BackwardProblem(new AttentionOptions { Heads = heads, KvHeads = 1, HeadDim = headDim, Causal = causal }, n));
    }

    [Theory]
    [InlineData(8, 2, 129, false)]
    [InlineData(8, 2, 129, true)]
    [InlineData(8, 1, 100, false)]
    [InlineData(8, 1, 100, true)]
    public void GroupedQueryAttentionWithBatches(int heads, int kvHeads, int n, bool causal)
    {
        AssertWithinTolerance(new BackwardProblem(new AttentionOptions { Batch = 2, Heads = heads, KvHeads = kvHeads, HeadDim = 64, Causal = causal }, n));
    }

    [Theory]
    [InlineData(ElementType.BFloat16, 64, true, 150)]
    [InlineData(ElementType.BFloat16, 128, false, 129)]
    [InlineData(ElementType.BFloat16, 80, true, 7)]
    [InlineData(ElementType.Float16, 64, false, 150)]
    [InlineData(ElementType.Float16, 128, true, 129)]
    [InlineData(ElementType.Float16, 24, true, 64)]
    public void SixteenBitStorage(ElementType type, int headDim, bool causal, int n)
    {
        AssertWithinTolerance(new BackwardProblem(new AttentionOptions { Heads = 2, KvHeads = 1, HeadDim = headDim, Causal = causal, ElementType = type }, n));
    }

    [SkippableTheory]
    [InlineData(SimdTier.Vector512)]
    [InlineData(SimdTier.Vector256)]
    [InlineData(SimdTier.Vector128)]
    public void EverySimdTierMatches(SimdTier tier)
    {
        Skip.IfNot(SimdTiers.IsSupported(tier), $"{tier} is not accelerated on this machine");
        using var kernel = new CpuFlashBackwardKernel(tier: tier);
        foreach (int d in new[] { 3, 64, 80, 128 })
        {
            AssertWithinTolerance(new BackwardProblem(new AttentionOptions { Heads = 2, HeadDim = d, Causal = true }, 150), kernel);
        }
        AssertWithinTolerance(new BackwardProblem(new AttentionOptions { Heads = 2, HeadDim = 40, Causal = true, ElementType = ElementType.BFloat16 }, 100), kernel);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    public void HeadDimsOffTheFastPaths(int headDim)
    {
        AssertWithinTolerance(new BackwardProblem(new AttentionOptions { Heads = 3, HeadDim = headDim, Causal = true }, 70));
    }

    [Fact]
    public void CustomSoftmaxScale()
    {
        AssertWithinTolerance(new BackwardProblem(new AttentionOptions { Heads = 2, HeadDim = 32, SoftmaxScale = 0.9f }, 100));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    public void AnyThreadCountMatches(int threads)
    {
        using var kernel = new CpuFlashBackwardKernel(threads: threads);
        AssertWithinTolerance(new BackwardProblem(new AttentionOptions { Batch = 2, Heads = 4, KvHeads = 2, HeadDim = 40, Causal = true }, 400), kernel);
    }

    [Fact]
    public void SameThreadCountGivesBitIdenticalGradients()
    {
        var problem = new BackwardProblem(new AttentionOptions { Heads = 2, KvHeads = 1, HeadDim = 64, Causal = true }, 700);
        using var kernel = new CpuFlashBackwardKernel(threads: 2);
        var first = problem.Run(kernel);
        var second = problem.Run(kernel);
        using var other = new CpuFlashBackwardKernel(threads: 2);
        var third = problem.Run(other);
        Assert.Equal(first.DQ, second.DQ);
        Assert.Equal(first.DK, second.DK);
        Assert.Equal(first.DV, second.DV);
        Assert.Equal(first.DQ, third.DQ);
        Assert.Equal(first.DK, third.DK);
        Assert.Equal(first.DV, third.DV);
    }

    private void AssertWithinTolerance(BackwardProblem problem, CpuFlashBackwardKernel? kernel = null)
    {
        using var owned = kernel is null ? new CpuFlashBackwardKernel() : null;
        var (dq, dk, dv) = problem.Run(kernel ?? owned!);
        var reference = problem.Reference;
        var tolerance = problem.Tolerance;
        double errorQ = TestProblem.MaxAbs(dq, reference.DQ), errorK = TestProblem.MaxAbs(dk, reference.DK), errorV = TestProblem.MaxAbs(dv, reference.DV);
        output.WriteLine($"{problem.Options} N={problem.N}: dQ error {errorQ:E3} (tolerance {tolerance.DQ:E3}), dK {errorK:E3} ({tolerance.DK:E3}), " +
            $"dV {errorV:E3} ({tolerance.DV:E3})");
        Assert.True(errorQ <= tolerance.DQ, $"dQ error {errorQ:E3} exceeds tolerance {tolerance.DQ:E3}");
        Assert.True(errorK <= tolerance.DK, $"dK error {errorK:E3} exceeds tolerance {tolerance.DK:E3}");
        Assert.True(errorV <= tolerance.DV, $"dV error {errorV:E3} exceeds tolerance {tolerance.DV:E3}");
    }
}
