using RingAttention.Cpu;
using RingAttention.Layouts;
using Xunit.Abstractions;

namespace RingAttention.Tests;

/// <summary>The CPU block kernel (single device: one rank, one call) against the float64 oracle.</summary>
public sealed class KernelTests(ITestOutputHelper output)
{
    public static TheoryData<int, int, bool> LengthsAndHeadDims()
    {
        var data = new TheoryData<int, int, bool>();
        foreach (int n in new[] { 1, 7, 64, 129, 1000 })
        {
            foreach (int d in new[] { 16, 64, 80, 128, 256 })
            {
                data.Add(n, d, false);
                data.Add(n, d, true);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(LengthsAndHeadDims))]
    public void MatchesFloat64Reference(int n, int headDim, bool causal)
    {
        AssertWithinTolerance(new TestProblem(new AttentionOptions { Heads = 2, KvHeads = 1, HeadDim = headDim, Causal = causal }, n));
    }

    [Theory]
    [InlineData(8, 2, 129, false)]
    [InlineData(8, 2, 129, true)]
    [InlineData(8, 1, 200, false)]
    [InlineData(8, 1, 200, true)]
    public void GroupedQueryAttentionWithBatches(int heads, int kvHeads, int n, bool causal)
    {
        AssertWithinTolerance(new TestProblem(new AttentionOptions { Batch = 2, Heads = heads, KvHeads = kvHeads, HeadDim = 64, Causal = causal }, n));
    }

    [SkippableTheory]
    [InlineData(SimdTier.Vector512)]
    [InlineData(SimdTier.Vector256)]
    [InlineData(SimdTier.Vector128)]
    public void EverySimdTierMatches(SimdTier tier)
    {
        Skip.IfNot(SimdTiers.IsSupported(tier), $"{tier} is not accelerated on this machine");
        using var backend = new CpuBackend(tier: tier);
        foreach (int d in new[] { 3, 64, 80, 128 })
        {
            AssertWithinTolerance(new TestProblem(new AttentionOptions { Heads = 2, HeadDim = d, Causal = true }, 150), backend);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    public void HeadDimsOffTheFastPaths(int headDim)
    {
        AssertWithinTolerance(new TestProblem(new AttentionOptions { Heads = 3, HeadDim = headDim, Causal = true }, 70));
    }

    [Fact]
    public void CustomSoftmaxScale()
    {
        AssertWithinTolerance(new TestProblem(new AttentionOptions { Heads = 2, HeadDim = 32, SoftmaxScale = 0.9f }, 100));
    }

    private void AssertWithinTolerance(TestProblem problem, CpuBackend? backend = null)
    {
        var (o, lse) = problem.RunRing(LayoutKind.Contiguous, 1, backend);
        double errorO = TestProblem.MaxAbs(o, problem.Reference.O);
        double errorLse = TestProblem.MaxAbs(lse, problem.Reference.Lse);
        var tolerance = problem.Tolerance;
        output.WriteLine($"O error {errorO:E3} (tolerance {tolerance.O:E3}), LSE error {errorLse:E3} (tolerance {tolerance.Lse:E3})");
        Assert.True(errorO <= tolerance.O, $"O error {errorO:E3} exceeds tolerance {tolerance.O:E3} (naive fp32 error {problem.NaiveError.O:E3})");
        Assert.True(errorLse <= tolerance.Lse, $"LSE error {errorLse:E3} exceeds tolerance {tolerance.Lse:E3} (naive fp32 error {problem.NaiveError.Lse:E3})");
    }
}
