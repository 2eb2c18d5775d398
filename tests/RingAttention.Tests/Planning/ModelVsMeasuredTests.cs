using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Planning;
using RingAttention.Ring;
using Xunit.Abstractions;

namespace RingAttention.Tests.Planning;

/// <summary>
/// The cost model against a small scaling run this test measures itself (emulation, strong scaling, N = 4096, P = 1, 2, 4,
/// contiguous and zigzag, causal and full): the run goes through the same file format as the bench's scaling mode,
/// the model predicts every run's critical path from the constants measured with it, and the error is reported.
/// The machine may be shared, so the bound is loose: within a factor of 3 either way.
/// </summary>
public sealed class ModelVsMeasuredTests(ITestOutputHelper output)
{
    private const double Factor = 3;

    [Fact]
    public void PredictionsOfASmallMeasuredRunAreWithinAFactorOfThree()
    {
        var file = SmallScalingRun.Measure("ModelVsMeasuredTests", 4096, [1, 2, 4], PassDirection.Forward, Measure);
        var compared = SmallScalingRun.PredictAndPrint(SmallScalingRun.RoundTrip(file), output);
        Assert.All(compared, run =>
        {
            double ratio = run.CriticalPathSeconds / run.PredictedSeconds!.Value;
            Assert.True(ratio > 1 / Factor && ratio < Factor, $"{run.Layout} P={run.Ranks} causal={run.Causal}: measured/predicted = {ratio:F2}");
        });
        // The schedule's imbalance is asserted on the model only: causal contiguous at P = 4 does 3.5 blocks on its
        // busiest rank, zigzag 2 (ratio ≈ 1.75). The measured ratio is printed above, not asserted: timings are not
        // for tests (on an idle machine it shows the model's ratio; under a load of 30 on 2 cores it fell to 1.06×).
        var contiguous = compared.Single(r => r.Causal && r.Ranks == 4 && r.Layout == "contiguous");
        var zigzag = compared.Single(r => r.Causal && r.Ranks == 4 && r.Layout == "zigzag");
        Assert.True(contiguous.PredictedSeconds > 1.5 * zigzag.PredictedSeconds, "model: contiguous causal should be ~1.75× zigzag at P = 4");
    }

    /// <summary>Critical path of one emulated pass, its exposed part, and each rank's compute.</summary>
    private static (double Critical, double Exposed, double[] Compute) Measure(AttentionOptions options, int n, LayoutKind kind, int p, CpuBackend backend)
    {
        var layout = SequenceLayouts.Create(kind, n, p);
        using var ring = new EmulatedRing(options, layout, backend);
        var source = new CounterRandomSource(3, options, n);
        foreach (var rank in ring.Ranks)
        {
            ShardLoader.Load(source, options, layout, rank.Rank, backend, rank.Tensors);
        }
        var reports = ring.Forward();
        var (critical, exposed) = CriticalPath.Of(reports.Select(r => r.Steps).ToList());
        return (critical, exposed, reports.Select(r => r.ComputeSeconds).ToArray());
    }
}
