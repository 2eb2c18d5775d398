using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Planning;
using RingAttention.Ring;

namespace RingAttention.Bench;

/// <summary>
/// Strong scaling (fixed N) and weak scaling (N = tokens per rank × P) for every mask and layout, in emulation and
/// as real processes under mpiexec; the kernel's throughput at every block size the runs use and the copy bandwidth
/// are measured with them, and the cost model predicts every run from those constants. With --backward every case is
/// also timed as a backward pass alone (after an untimed forward gives it O and LSE), because that is what the cost
/// model's backward predicts: in emulation by the critical path of the ranks' backward step reports, under mpiexec by
/// <c>ringattn run --backward</c>'s backward wall time; the backward kernel's FLOP/s is measured for the model too.
/// </summary>
internal static class ScalingBench
{
    public static ScalingFile Run(ScalingOptions o, string command, MachineFacts machine, Action<string> log)
    {
        var ranks = o.Ranks.Append(1).Distinct().Order().ToList();
        var shape = new AttentionOptions { Heads = o.Heads, KvHeads = o.KvHeads, HeadDim = o.HeadDim, ElementType = o.ElementType };
        shape.Validate();
        var cases = Cases(o, ranks);
        var directions = o.Backward ? new[] { PassDirection.Forward, PassDirection.Backward } : [PassDirection.Forward];
        using var backend = new CpuBackend();
        log($"scaling  {cases.Count} cases × {o.Modes.Distinct().Count()} mode(s) × {directions.Length} direction(s), {Planner.Describe(shape, o.SequenceLength)} (strong N), {o.TokensPerRank} tokens per rank (weak)");

        var blockSizes = cases.Select(c => (c.SequenceLength + c.Ranks - 1) / c.Ranks).Distinct().ToList();
        var kernel = directions.SelectMany(d => KernelCalibration.Measure(shape, blockSizes, backend, o.Repeats, d)).ToList();
        foreach (var k in kernel)
        {
            log($"kernel   {k.Direction.Name(),-8} block {k.BlockRows,7} rows, {(k.Causal ? "masked  " : "unmasked")}: {k.FlopsPerSecond / 1e9,7:F1} GFLOP/s");
        }
        double copy = MemoryCopyLink.MeasureBytesPerSecond();
        log($"copy     {copy / 1e9:F1} GB/s (the emulated ring's link)");

        string dtype = ElementTypes.ShortName(o.ElementType);
        var runs = new List<ScalingRun>();
        foreach (var mode in o.Modes.Distinct())
        {
            foreach (var (c, direction) in cases.SelectMany(c => directions.Select(d => (c, d))))
            {
                var run = mode == ScalingMode.Emulation
                    ? Emulated(c, shape, backend, o.Repeats, dtype, direction)
                    : MpiScaling.Run(c, shape, o.Mpiexec, o.Repeats, dtype, direction);
                log($"{run.Mode,-9}{run.Scaling,-7} {run.Direction,-8} {(run.Causal ? "causal" : "full"),-6} {run.Layout,-10} P={run.Ranks} N={run.SequenceLength}: critical path {run.CriticalPathSeconds:F3} s " +
                    $"(wall {run.WallSeconds:F3} s), exposed {run.ExposedSeconds:F3} s{(run.Oversubscribed ? ", oversubscribed" : "")}");
                runs.Add(run);
            }
        }
        runs = WithEfficiency(runs);
        // An exchange's time from post to completion includes waiting for the peer to post its side, so every run's
        // bytes ÷ exchange time is a lower bound of the link's bandwidth: the fastest run's is the closest.
        var mpi = runs.Where(r => r.Mode == "mpi" && r.Ranks > 1 && r.ExchangeSeconds > 0).ToList();
        double? mpiBandwidth = mpi.Count > 0 ? mpi.Max(r => r.BytesSent / r.ExchangeSeconds!.Value) : null;
        var file = new ScalingFile(command, $"{machine.Cpu}, {machine.Cores} cores, {machine.Simd}; {machine.Runtime}, {machine.Os}", machine.Date,
            $"{machine.LoadAtStart} at start, {MachineFacts.LoadAverage()} at end", kernel, copy, mpiBandwidth, machine.Cores, runs);
        return file with { Runs = ScalingComparison.Predict(file) };
    }

    /// <summary>Every (scaling, mask, P, layout) point; P = 1 once per scaling and mask (every layout is the same there).</summary>
    private static List<ScalingCase> Cases(ScalingOptions o, IReadOnlyList<int> ranks) =>
        (from kind in o.Scalings.Distinct()
         from mask in o.Masks.Distinct()
         from p in ranks
         from layout in p == 1 ? [LayoutKind.Contiguous] : o.Layouts.Distinct()
         select new ScalingCase(kind, mask == ScalingMask.Causal, layout, p, kind == ScalingKind.Strong ? o.SequenceLength : o.TokensPerRank * p)).ToList();

    /// <summary>One case in emulation: the best of <paramref name="repeats"/> passes by critical path.</summary>
    private static ScalingRun Emulated(ScalingCase c, AttentionOptions shape, CpuBackend backend, int repeats, string dtype, PassDirection direction)
    {
        var options = c.Options(shape);
        using var forward = direction == PassDirection.Forward ? new RingProblem(options, c.SequenceLength, c.Layout, c.Ranks, backend) : null;
        using var backward = direction == PassDirection.Backward ? new ScalingBackwardProblem(options, c.SequenceLength, c.Layout, c.Ranks, backend) : null;
        ScalingRun? best = null;
        for (int i = 0; i < repeats; i++)
        {
            var (seconds, reports) = forward is not null ? WallAndReports(forward.Time()) : backward!.Time();
            var (critical, exposed) = CriticalPath.Of(reports.Select(r => r.Steps).ToList());
            if (best is null || critical < best.CriticalPathSeconds)
            {
                best = new ScalingRun("emulation", c.KindName, direction.Name(), c.Causal, c.LayoutName, c.Ranks, c.SequenceLength, options.Heads,
                    options.EffectiveKvHeads, options.HeadDim, dtype, backend.Threads, false, seconds, critical, exposed,
                    reports.Any(r => r.ExchangeSeconds is not null) ? reports.Sum(r => r.ExchangeSeconds ?? 0) : null,
                    reports.Any(r => r.HiddenSeconds is not null) ? reports.Sum(r => r.HiddenSeconds ?? 0) : null,
                    reports.Sum(r => r.BytesSent), reports.Select(r => r.ComputeSeconds).ToList(), double.NaN);
            }
        }
        return best!;
    }

    private static (double Seconds, RankReport[] Reports) WallAndReports((double Seconds, double CpuSeconds, RankReport[] Reports) timed) =>
        (timed.Seconds, timed.Reports);

    /// <summary>
    /// Strong: t(P = 1) / (P·t(P)). Weak: the P = 1 run's rate applied to the larger problem, t(1)·(N/N₁)², over P·t(P)
    /// (one device doing N ∝ P tokens does P² times the work). All on the critical path.
    /// </summary>
    private static List<ScalingRun> WithEfficiency(List<ScalingRun> runs) => runs.Select(run =>
    {
        var baseline = runs.FirstOrDefault(b => b.Mode == run.Mode && b.Scaling == run.Scaling && b.Direction == run.Direction && b.Causal == run.Causal && b.Ranks == 1);
        if (baseline is null)
        {
            return run;
        }
        double ratio = (double)run.SequenceLength / baseline.SequenceLength;
        return run with { Efficiency = baseline.CriticalPathSeconds * ratio * ratio / (run.Ranks * run.CriticalPathSeconds) };
    }).ToList();
}
