using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Ring;
using Xunit.Abstractions;

namespace RingAttention.Tests;

/// <summary>
/// bf16 and fp16 storage (fp32 compute and running state) against the float64 oracle run on the very inputs the
/// kernel sees (already rounded to the storage type): every element of O is within half a storage ulp of the
/// exact result plus the fp32 kernel tolerance, the worst error is no worse than that of a naive fp32
/// implementation whose output is rounded to the same storage type, and LSE (fp32) keeps the fp32 tolerance.
/// </summary>
public sealed class StorageTypeTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(ElementType.BFloat16, 64, false)]
    [InlineData(ElementType.BFloat16, 128, true)]
    [InlineData(ElementType.BFloat16, 80, true)]
    [InlineData(ElementType.Float16, 64, true)]
    [InlineData(ElementType.Float16, 128, false)]
    [InlineData(ElementType.Float16, 24, true)]
    public void SingleRankErrorIsTheStorageRounding(ElementType type, int headDim, bool causal)
    {
        AssertStorageBound(new TestProblem(new AttentionOptions { Heads = 2, KvHeads = 1, HeadDim = headDim, Causal = causal, ElementType = type }, 150),
            LayoutKind.Contiguous, 1);
    }

    [Theory]
    [InlineData(ElementType.BFloat16, LayoutKind.Zigzag, 4)]
    [InlineData(ElementType.BFloat16, LayoutKind.Striped, 3)]
    [InlineData(ElementType.Float16, LayoutKind.Zigzag, 8)]
    public void RingKeepsPartialsInFp32SoErrorDoesNotGrowWithRanks(ElementType type, LayoutKind layout, int ranks)
    {
        AssertStorageBound(new TestProblem(new AttentionOptions { Heads = 2, HeadDim = 64, Causal = true, ElementType = type }, 203), layout, ranks);
    }

    [Theory]
    [InlineData(ElementType.BFloat16)]
    [InlineData(ElementType.Float16)]
    public void EverySimdTierHandles16BitStorage(ElementType type)
    {
        foreach (var tier in Enum.GetValues<SimdTier>().Where(SimdTiers.IsSupported))
        {
            using var backend = new CpuBackend(tier: tier);
            AssertStorageBound(new TestProblem(new AttentionOptions { Heads = 1, HeadDim = 40, Causal = true, ElementType = type }, 100),
                LayoutKind.Contiguous, 1, backend);
        }
    }

    private void AssertStorageBound(TestProblem problem, LayoutKind layout, int ranks, CpuBackend? backend = null)
    {
        var type = problem.Options.ElementType;
        var (o, lse) = Run(problem, layout, ranks, backend);
        var reference = problem.Reference;
        var fp32Tolerance = problem.Tolerance;

        // The naive same-precision yardstick: fp32 attention on the same inputs, its output rounded to storage.
        var naive = Reference.NaiveAttention.Forward<float>(problem.Options, problem.N, problem.Q, problem.K, problem.V).O;
        StorageRounding.Round(type, naive);

        double worst = 0, worstNaive = 0, worstExcess = double.NegativeInfinity;
        for (int i = 0; i < o.Length; i++)
        {
            double error = Math.Abs(o[i] - reference.O[i]);
            double bound = 0.5 * Spacing(type, Math.Abs(reference.O[i]) + fp32Tolerance.O) + fp32Tolerance.O;
            worst = Math.Max(worst, error);
            worstNaive = Math.Max(worstNaive, Math.Abs(naive[i] - reference.O[i]));
            worstExcess = Math.Max(worstExcess, error - bound);
            Assert.True(error <= bound, $"O[{i}] = {o[i]:G9}, reference {reference.O[i]:G9}: error {error:E3} exceeds half a {type} ulp plus the fp32 tolerance ({bound:E3})");
        }
        double lseError = TestProblem.MaxAbs(lse, reference.Lse);
        output.WriteLine($"{type} P={ranks} {layout}: O max error {worst:E3} (naive {type} {worstNaive:E3}), LSE error {lseError:E3} (tolerance {fp32Tolerance.Lse:E3})");
        Assert.True(worst <= worstNaive + fp32Tolerance.O, $"O max error {worst:E3} is worse than the naive {type} implementation's {worstNaive:E3}");
        Assert.True(lseError <= fp32Tolerance.Lse, $"LSE error {lseError:E3} exceeds the fp32 tolerance {fp32Tolerance.Lse:E3}");
    }

    /// <summary>Runs the ring on the problem's (storage-rounded) inputs stored as <paramref name="problem"/>'s type; O widened back to float.</summary>
    private static (float[] O, float[] Lse) Run(TestProblem problem, LayoutKind layout, int ranks, CpuBackend? backend)
    {
        using var owned = backend is null ? new CpuBackend() : null;
        var ringLayout = SequenceLayouts.Create(layout, problem.N, ranks);
        var lse = new float[problem.Options.Batch * problem.Options.Heads * problem.N];
        return problem.Options.ElementType switch
        {
            ElementType.BFloat16 => (RunAs(problem, ringLayout, backend ?? owned!, lse, f => (BFloat16)f, b => (float)b), lse),
            ElementType.Float16 => (RunAs(problem, ringLayout, backend ?? owned!, lse, f => (Half)f, h => (float)h), lse),
            _ => throw new ArgumentOutOfRangeException(nameof(problem), problem.Options.ElementType, "expected a 16-bit storage type"),
        };
    }

    private static float[] RunAs<T>(TestProblem problem, ISequenceLayout layout, CpuBackend backend, float[] lse, Func<float, T> narrow, Func<T, float> widen)
        where T : unmanaged
    {
        var q = problem.Q.Select(narrow).ToArray();
        var k = problem.K.Select(narrow).ToArray();
        var v = problem.V.Select(narrow).ToArray();
        var o = new T[q.Length];
        EmulatedRing.Attention<T>(problem.Options, layout, backend, q, k, v, o, lse);
        return o.Select(widen).ToArray();
    }

    /// <summary>Distance between adjacent values of <paramref name="type"/> around magnitude <paramref name="magnitude"/>.</summary>
    private static double Spacing(ElementType type, double magnitude)
    {
        var (mantissaBits, minExponent) = type == ElementType.BFloat16 ? (7, -126) : (10, -14);
        int exponent = magnitude > 0 ? Math.Max(Math.ILogB(magnitude), minExponent) : minExponent;
        return Math.ScaleB(1.0, exponent - mantissaBits);
    }
}
