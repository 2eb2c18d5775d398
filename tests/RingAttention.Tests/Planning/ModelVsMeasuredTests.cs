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
        const int n = 4096, rounds = 3;
        int[] ringSizes = [1, 2, 4];
        var baseOptions = new AttentionOptions { Heads = 2, HeadDim = 64 };
        // One thread: on a shared machine a second kernel thread stalls whenever either is descheduled.
        using var backend = new CpuBackend(1);
        var cases = new[] { false, true }.SelectMany(causal => ringSizes.SelectMany(p =>
            (p == 1 ? [LayoutKind.Contiguous] : new[] { LayoutKind.Contiguous, LayoutKind.Zigzag }).Select(kind => (Causal: causal, Ranks: p, Kind: kind)))).ToList();
        // Rounds over the calibration and every case, best of each kept: a burst of load from elsewhere then hits the
        // constants and the runs alike instead of one of them.
        var kernel = new Dictionary<(bool, long), KernelMeasurement>();
        var best = new (double Critical, double Exposed, double[] Compute)[cases.Count];
        for (int round = 0; round < rounds; round++)
        {
            foreach (var m in KernelCalibration.Measure(baseOptions, ringSizes.Select(p => n / p), backend, repeats: 1))
            {
                if (!kernel.TryGetValue((m.Causal, m.BlockRows), out var kept) || m.FlopsPerSecond > kept.FlopsPerSecond)
                {
                    kernel[(m.Causal, m.BlockRows)] = m;
                }
            }
            for (int i = 0; i < cases.Count; i++)
            {
                var options = new AttentionOptions { Heads = 2, HeadDim = 64, Causal = cases[i].Causal };
                var run = Measure(options, n, cases[i].Kind, cases[i].Ranks, backend);
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
            runs.Add(new ScalingRun("emulation", "strong", "forward", causal, kind.ToString().ToLowerInvariant(), p, n, 2, 2, 64, "fp32",
                backend.Threads, false, best[i].Critical, best[i].Critical, best[i].Exposed, null, null, 0, best[i].Compute, single / (p * best[i].Critical)));
        }
        string path = Path.Combine(Path.GetTempPath(), $"ringattn-scaling-test-{Environment.ProcessId}.json");
        try
        {
            ScalingComparison.Write(new ScalingFile("ModelVsMeasuredTests", "this machine", DateTimeOffset.UtcNow.ToString("u"), "?", kernel.Values.ToList(),
                MemoryCopyLink.MeasureBytesPerSecond(), null, Environment.ProcessorCount, runs), path);
            var compared = ScalingComparison.Predict(ScalingComparison.Read(path));
            output.WriteLine($"{"causal",-6} {"layout",-11} {"P",2} {"measured ms",12} {"predicted ms",13} {"error",8}");
            foreach (var run in compared)
            {
                output.WriteLine($"{run.Causal,-6} {run.Layout,-11} {run.Ranks,2} {run.CriticalPathSeconds * 1e3,12:F2} {run.PredictedSeconds * 1e3,13:F2} {run.PredictionError,8:P0}");
            }
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
        finally
        {
            File.Delete(path);
        }
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
