using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Planning;
using Xunit.Abstractions;

namespace RingAttention.Tests.Planning;

/// <summary>
/// The small emulated strong-scaling run the model-vs-measured tests make (H = 2, D = 64, fp32, one kernel thread,
/// P = 1 contiguous and every other P contiguous and zigzag, causal and full), in the bench's scaling file format,
/// and its round trip through a file followed by the model's prediction of every run, printed with its error.
/// </summary>
internal static class SmallScalingRun
{
    /// <summary>Critical path of one emulated pass, its exposed part, and each rank's compute.</summary>
    public delegate (double Critical, double Exposed, double[] Compute) MeasurePass(AttentionOptions options, int n, LayoutKind kind, int p, CpuBackend backend);

    /// <summary>
    /// Measures the kernel's <paramref name="direction"/> FLOP/s at every block size and each case with
    /// <paramref name="measure"/>, in <paramref name="rounds"/> rounds over the calibration and every case, the best
    /// of each kept: a burst of load from elsewhere then hits the constants and the runs alike instead of one of them.
    /// </summary>
    public static ScalingFile Measure(string name, int n, int[] ringSizes, PassDirection direction, MeasurePass measure, int rounds = 3)
    {
        var baseOptions = new AttentionOptions { Heads = 2, HeadDim = 64 };
        // One thread: on a shared machine a second kernel thread stalls whenever either is descheduled.
        using var backend = new CpuBackend(1);
        var cases = new[] { false, true }.SelectMany(causal => ringSizes.SelectMany(p =>
            (p == 1 ? [LayoutKind.Contiguous] : new[] { LayoutKind.Contiguous, LayoutKind.Zigzag }).Select(kind => (Causal: causal, Ranks: p, Kind: kind)))).ToList();
        var kernel = new Dictionary<(bool, long), KernelMeasurement>();
        var best = new (double Critical, double Exposed, double[] Compute)[cases.Count];
        for (int round = 0; round < rounds; round++)
        {
            foreach (var m in KernelCalibration.Measure(baseOptions, ringSizes.Select(p => n / p), backend, repeats: 1, direction))
            {
                if (!kernel.TryGetValue((m.Causal, m.BlockRows), out var kept) || m.FlopsPerSecond > kept.FlopsPerSecond)
                {
                    kernel[(m.Causal, m.BlockRows)] = m;
                }
            }
            for (int i = 0; i < cases.Count; i++)
            {
                var options = new AttentionOptions { Heads = 2, HeadDim = 64, Causal = cases[i].Causal };
                var run = measure(options, n, cases[i].Kind, cases[i].Ranks, backend);
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
            runs.Add(new ScalingRun("emulation", "strong", direction.ToString().ToLowerInvariant(), causal, kind.ToString().ToLowerInvariant(), p, n, 2, 2, 64, "fp32",
                backend.Threads, false, best[i].Critical, best[i].Critical, best[i].Exposed, null, null, 0, best[i].Compute, single / (p * best[i].Critical)));
        }
        return new ScalingFile(name, "this machine", DateTimeOffset.UtcNow.ToString("u"), "?", kernel.Values.ToList(),
            MemoryCopyLink.MeasureBytesPerSecond(), null, Environment.ProcessorCount, runs);
    }

    /// <summary><paramref name="file"/> written to a temporary file and read back (the file is removed).</summary>
    public static ScalingFile RoundTrip(ScalingFile file)
    {
        string path = Path.Combine(Path.GetTempPath(), $"ringattn-{file.Command}-{Environment.ProcessId}.json");
        try
        {
            ScalingComparison.Write(file, path);
            return ScalingComparison.Read(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The model's prediction of every run in <paramref name="file"/>, printed with the measured time and the error.</summary>
    public static List<ScalingRun> PredictAndPrint(ScalingFile file, ITestOutputHelper output)
    {
        var compared = ScalingComparison.Predict(file);
        output.WriteLine($"{"causal",-6} {"layout",-11} {"P",2} {"measured ms",12} {"predicted ms",13} {"error",8}");
        foreach (var run in compared)
        {
            output.WriteLine($"{run.Causal,-6} {run.Layout,-11} {run.Ranks,2} {run.CriticalPathSeconds * 1e3,12:F2} {run.PredictedSeconds * 1e3,13:F2} {run.PredictionError,8:P0}");
        }
        return compared;
    }
}
