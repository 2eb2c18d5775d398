using RingAttention.Cpu;
using RingAttention.Kernels;
using RingAttention.TestSupport;
using Xunit.Abstractions;

namespace RingAttention.Tests;

/// <summary>
/// The CPU block kernel (single device: one rank, one call) against the float64 oracle: the kernel suite every
/// backend runs, and the CPU's own cases (SIMD tiers, head dims the GPU kernels do not take).
/// </summary>
public sealed class KernelTests(ITestOutputHelper output) : KernelSuite(output)
{
    protected override IAttentionBackend CreateBackend() => new CpuBackend();

    protected override IReadOnlyList<int> Lengths => [1, 7, 64, 129, 1000];

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
            AssertWithinTolerance(backend, new TestProblem(new AttentionOptions { Heads = 2, HeadDim = d, Causal = true }, 150));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    public void HeadDimsOffTheFastPaths(int headDim)
    {
        using var backend = new CpuBackend();
        AssertWithinTolerance(backend, new TestProblem(new AttentionOptions { Heads = 3, HeadDim = headDim, Causal = true }, 70));
    }
}
