using RingAttention.Cpu;
using RingAttention.Inputs;
using RingAttention.Layouts;
using RingAttention.Planning;
using RingAttention.Ring;
using Xunit.Abstractions;

namespace RingAttention.Tests.Planning;

/// <summary>
/// The cost model's backward against a small backward scaling run this test measures itself (emulation, strong scaling,
/// N = 2048, P = 1, 2, contiguous and zigzag, causal and full; the backward pass alone after an untimed forward, as the
/// bench's <c>scaling --backward</c> times it): the backward kernel's FLOP/s is measured in the same rounds, the runs go
/// through the scaling file format, the model predicts each critical path, and the error is reported. Asserted: the
/// round trip keeps the backward direction and every run gets a finite positive prediction. The error is printed,
/// not bounded: on a busy 2-core machine it ranged from −69% to +42%, and timings are not for tests.
/// </summary>
public sealed class ModelVsMeasuredBackwardTests(ITestOutputHelper output)
{
    [Fact]
    public void BackwardPredictionsOfASmallMeasuredRunRoundTripAndAreReported()
    {
        var file = SmallScalingRun.Measure("ModelVsMeasuredBackwardTests", 2048, [1, 2], PassDirection.Backward, MeasureBackward);
        Assert.All(file.Kernel, m => Assert.Equal(PassDirection.Backward, m.Direction));
        var read = SmallScalingRun.RoundTrip(file);
        Assert.All(read.Kernel, k => Assert.Equal(PassDirection.Backward, k.Direction));
        var compared = SmallScalingRun.PredictAndPrint(read, output);
        Assert.Equal(file.Runs.Count, compared.Count);
        Assert.All(compared, run => Assert.True(run.PredictedSeconds is > 0 and < double.PositiveInfinity,
            $"backward {run.Layout} P={run.Ranks} causal={run.Causal}: prediction {run.PredictedSeconds}"));
    }

    /// <summary>Critical path of one emulated backward pass (after an untimed forward), its exposed part, and each rank's compute.</summary>
    private static (double Critical, double Exposed, double[] Compute) MeasureBackward(AttentionOptions options, int n, LayoutKind kind, int p, CpuBackend backend)
    {
        var layout = SequenceLayouts.Create(kind, n, p);
        using var ring = new EmulatedRing(options, layout, backend);
        var source = new CounterRandomSource(3, options, n);
        var outputGrad = new CounterRandomSource(5, options, n);
        var gradients = new RankGradients[p];
        try
        {
            foreach (var rank in ring.Ranks)
            {
                ShardLoader.Load(source, options, layout, rank.Rank, backend, rank.Tensors);
                gradients[rank.Rank] = RankGradients.Allocate(backend, options, rank.LocalLength);
                ShardLoader.LoadOutputGradient(outputGrad, options, layout, rank.Rank, backend, gradients[rank.Rank].DO);
            }
            ring.Forward();
            var reports = ring.Backward(gradients);
            var (critical, exposed) = CriticalPath.Of(reports.Select(r => r.Steps).ToList());
            return (critical, exposed, reports.Select(r => r.ComputeSeconds).ToArray());
        }
        finally
        {
            foreach (var gradient in gradients)
            {
                gradient?.Dispose();
            }
        }
    }
}
