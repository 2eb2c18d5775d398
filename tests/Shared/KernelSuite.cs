using RingAttention.Kernels;
using RingAttention.Layouts;
using RingAttention.Tests;
using Xunit.Abstractions;

namespace RingAttention.TestSupport;

/// <summary>
/// The forward kernels of one backend (single device: one rank, one call) against the float64 oracle, written once
/// and run per backend: a test project derives a class that says how to create its backend (skipping where it cannot
/// run) and, where the device is slow (the software GPU), which shapes to run. Tolerances come from the problem:
/// twice a naive fp32 implementation's error plus, for 16-bit storage, the storage type's rounding of O and P.
/// </summary>
public abstract class KernelSuite(ITestOutputHelper output)
{
    /// <summary>Creates the backend under test, or skips the test where it cannot run.</summary>
    protected abstract IAttentionBackend CreateBackend();

    /// <summary>The storage types every shape runs in.</summary>
    protected virtual IReadOnlyList<ElementType> StorageTypes => [ElementType.Float32, ElementType.Float16, ElementType.BFloat16];

    /// <summary>Head dims of the shape grid.</summary>
    protected virtual IReadOnlyList<int> HeadDims => [16, 40, 64, 80, 128, 256];

    /// <summary>Sequence lengths of the shape grid (one row, partial tiles, several key blocks).</summary>
    protected virtual IReadOnlyList<int> Lengths => [1, 7, 129, 333];

    [SkippableFact]
    public void EveryStorageTypeHeadDimAndLengthMatchesTheOracle()
    {
        using var backend = CreateBackend();
        foreach (var type in StorageTypes)
        {
            foreach (int d in HeadDims)
            {
                foreach (int n in Lengths)
                {
                    foreach (bool causal in new[] { false, true })
                    {
                        AssertWithinTolerance(backend, new TestProblem(new AttentionOptions { Batch = 2, Heads = 2, KvHeads = 1, HeadDim = d, Causal = causal, ElementType = type }, n));
                    }
                }
            }
        }
    }

    [SkippableFact]
    public void GroupedQueryAttentionWithBatches()
    {
        using var backend = CreateBackend();
        foreach (var type in StorageTypes)
        {
            foreach (var (heads, kvHeads, n) in new[] { (8, 2, 129), (8, 1, 200), (4, 4, 70) })
            {
                foreach (bool causal in new[] { false, true })
                {
                    AssertWithinTolerance(backend, new TestProblem(new AttentionOptions { Batch = 2, Heads = heads, KvHeads = kvHeads, HeadDim = 64, Causal = causal, ElementType = type }, n));
                }
            }
        }
    }

    [SkippableFact]
    public void CustomSoftmaxScale()
    {
        using var backend = CreateBackend();
        AssertWithinTolerance(backend, new TestProblem(new AttentionOptions { Heads = 2, HeadDim = 32, SoftmaxScale = 0.9f }, 100));
    }

    /// <summary>Runs <paramref name="problem"/> on one rank of <paramref name="backend"/> and asserts O and LSE are within its tolerance.</summary>
    private protected void AssertWithinTolerance(IAttentionBackend backend, TestProblem problem)
    {
        var (o, lse) = problem.Run(backend, SequenceLayouts.Create(LayoutKind.Contiguous, problem.N, 1));
        double errorO = TestProblem.MaxAbs(o, problem.Reference.O);
        double errorLse = TestProblem.MaxAbs(lse, problem.Reference.Lse);
        var tolerance = problem.StorageTolerance;
        var p = problem.Options;
        string shape = $"{backend.Name} {ElementTypes.ShortName(p.ElementType)} B={p.Batch} H={p.Heads}/{p.KvHeads} d={p.HeadDim} N={problem.N} causal={p.Causal}";
        output.WriteLine($"{shape}: O error {errorO:E3} (tolerance {tolerance.O:E3}), LSE error {errorLse:E3} (tolerance {tolerance.Lse:E3})");
        Assert.True(errorO <= tolerance.O, $"{shape}: O error {errorO:E3} exceeds tolerance {tolerance.O:E3} (naive fp32 error {problem.NaiveError.O:E3})");
        Assert.True(errorLse <= tolerance.Lse, $"{shape}: LSE error {errorLse:E3} exceeds tolerance {tolerance.Lse:E3} (naive fp32 error {problem.NaiveError.Lse:E3})");
    }
}
