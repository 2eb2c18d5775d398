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
        const int n = 2048, rounds = 3;
        int[] ringSizes = [1, 2];
        var baseOptions = new AttentionOptions { Heads = 2, HeadDim = 64 };
        using var backend = new CpuBackend(1);
        var cases = new[] { false, true }.SelectMany(causal => ringSizes.SelectMany(p =>
            (p == 1 ? [LayoutKind.Contiguous] : new[] { LayoutKind.Contiguous, LayoutKind.Zigzag }).Select(kind => (Causal: causal, Ranks: p, Kind: kind)))).ToList();
        var kernel = new Dictionary<(bool, long), KernelMeasurement>();
        var best = new (double Critical, double Exposed, double[] Compute)[cases.Count];
        for (int round = 0; round < rounds; round++)
        {
            foreach (var m in KernelCalibration.Measure(baseOptions, ringSizes.Select(p => n / p), backend, repeats: 1, PassDirection.Backward))
            {
                Assert.Equal(PassDirection.Backward, m.Direction);
                if (!kernel.TryGetValue((m.Causal, m.BlockRows), out var kept) || m.FlopsPerSecond > kept.FlopsPerSecond)
                {
                    kernel[(m.Causal, m.BlockRows)] = m;
                }
            }
            for (int i = 0; i < cases.Count; i++)
            {
                var options = new AttentionOptions { Heads = 2, HeadDim = 64, Causal = cases[i].Causal };
                var run = MeasureBackward(options, n, cases[i].Kind, cases[i].Ranks, backend);
                if (round == 0 || run.Critical < best[i].Critical)
                {
                    best[i] = run;
                }
            }
        }
        var runs = new List<ScalingRun>();
        for (int i = 0; i < cases.Count; i++)
        {
            var (causal, p, kind) = cases[i];
            double single = best[cases.FindIndex(c => c.Causal == causal && c.Ranks == 1)].Critical;
            runs.Add(new ScalingRun("emulation", "strong", "backward", causal, kind.ToString().ToLowerInvariant(), p, n, 2, 2, 64, "fp32",
                backend.Threads, false, best[i].Critical, best[i].Critical, best[i].Exposed, null, null, 0, best[i].Compute, single / (p * best[i].Critical)));
        }
        string path = Path.Combine(Path.GetTempPath(), $"ringattn-scaling-backward-test-{Environment.ProcessId}.json");
        try
        {
            ScalingComparison.Write(new ScalingFile("ModelVsMeasuredBackwardTests", "this machine", DateTimeOffset.UtcNow.ToString("u"), "?", kernel.Values.ToList(),
                MemoryCopyLink.MeasureBytesPerSecond(), null, Environment.ProcessorCount, runs), path);
            var read = ScalingComparison.Read(path);
            Assert.All(read.Kernel, k => Assert.Equal(PassDirection.Backward, k.Direction));
            var compared = ScalingComparison.Predict(read);
            output.WriteLine($"{"causal",-6} {"layout",-11} {"P",2} {"measured ms",12} {"predicted ms",13} {"error",8}");
            foreach (var run in compared)
            {
                output.WriteLine($"{run.Causal,-6} {run.Layout,-11} {run.Ranks,2} {run.CriticalPathSeconds * 1e3,12:F2} {run.PredictedSeconds * 1e3,13:F2} {run.PredictionError,8:P0}");
            }
            Assert.Equal(runs.Count, compared.Count);
            Assert.All(compared, run => Assert.True(run.PredictedSeconds is > 0 and < double.PositiveInfinity,
                $"backward {run.Layout} P={run.Ranks} causal={run.Causal}: prediction {run.PredictedSeconds}"));
        }
        finally
        {
            File.Delete(path);
        }
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
