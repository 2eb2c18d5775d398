using System.Globalization;
using System.Text;
using RingAttention.Planning;

namespace RingAttention.Bench;

/// <summary>scaling.md: the header (command, machine, load), the measured constants and the strong and weak tables with the model's error.</summary>
internal static class ScalingReport
{
    public static string Markdown(ScalingFile f)
    {
        var md = new StringBuilder();
        md.AppendLine($"Command: `{f.Command}`  ");
        md.AppendLine($"Date: {f.Date}; machine: {f.Machine}  ");
        md.AppendLine($"Load average (1/5/15 min): {f.Load}.");
        md.AppendLine();
        if (double.TryParse(f.Load.Split(' ')[0], CultureInfo.InvariantCulture, out double load) && load > 0.5)
        {
            md.AppendLine($"**Other processes were using the cores (load {load:F1} on {f.Cores} cores): these figures are not the machine's own.**");
            md.AppendLine();
        }
        md.AppendLine(f.Runs.Any(r => r.Direction == "backward")
            ? "Forward and backward passes (`--backward`): a *backward* row times the backward pass alone (dQ, dK, dV from dO and the forward's O and LSE, " +
              "after an untimed forward), which is what the model's backward predicts. Under mpi it is `ringattn run --backward`'s backward wall time " +
              "(slowest process, first post to last cast), its exposed time the most one rank waited, and it has no per-rank compute figures."
            : "Forward pass only (`--backward` adds backward rows).");
        md.AppendLine("- **emulation**: P virtual ranks in one process, each rank's steps on all cores, one rank after another. The *critical path* " +
            "(Σ over steps of the slowest rank's compute + exposed wait) is the time P devices each as fast as this machine would take; the wall time is P× that.");
        md.AppendLine($"- **mpi**: P `ringattn` processes under mpiexec sharing this machine's {f.Cores} cores (cores/P kernel threads each, at least 1); " +
            "rows marked *oversubscribed* ran more processes than cores, so they time-share. Their efficiency measures the ring's overhead on a fixed machine, not a speed-up.");
        md.AppendLine("- **efficiency**: strong t(1)/(P·t(P)); weak t(1)·(N/N₁)²/(P·t(P)) (one device would do P² times the work); on the critical path.");
        md.AppendLine("- **model**: `ringattn plan`'s cost model on the real schedule with the constants below (kernel FLOP/s by block size and mask; " +
            "copy bandwidth for emulation; for mpi, the MPI bandwidth and 1/P of the machine's throughput per process; backward rows use the backward kernel's " +
            "measured FLOP/s at 2.5× the forward's FLOPs and move K, V plus fp32 dK, dV per step). Error = measured / model − 1.");
        md.AppendLine();
        md.AppendLine("Measured constants (all cores, best of the repeats): " +
            string.Join("; ", f.Kernel.OrderBy(k => k.Direction).ThenBy(k => k.BlockRows).ThenBy(k => k.Causal)
                .Select(k => $"{k.Direction.Name()} {k.BlockRows} rows {(k.Causal ? "masked" : "unmasked")} {k.FlopsPerSecond / 1e9:F0} GFLOP/s")) +
            $"; in-process copy {f.CopyBytesPerSecond / 1e9:F1} GB/s" +
            (f.MpiBytesPerSecond is { } mpi ? $"; MPI {mpi / 1e9:F2} GB/s (the fastest MPI run's bytes sent ÷ exchange time, post to completion: a lower bound)" : "") + ".");
        md.AppendLine();
        foreach (string scaling in f.Runs.Select(r => r.Scaling).Distinct())
        {
            var runs = f.Runs.Where(r => r.Scaling == scaling).ToList();
            md.AppendLine(scaling == "strong"
                ? $"Strong scaling, N = {runs[0].SequenceLength}, H = {runs[0].Heads}, Hkv = {runs[0].KvHeads}, D = {runs[0].HeadDim}, {runs[0].DType}:"
                : $"Weak scaling, N = {runs.Min(r => r.SequenceLength)} × P, H = {runs[0].Heads}, Hkv = {runs[0].KvHeads}, D = {runs[0].HeadDim}, {runs[0].DType}:");
            md.AppendLine();
            md.AppendLine("| mode | pass | mask | layout | P | N | critical path s | wall s | efficiency | exposed s | hidden s | rank compute min–max s | model s | model error |");
            md.AppendLine("|:---|:---|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in runs.OrderBy(r => r.Mode).ThenBy(r => r.Direction != "forward").ThenBy(r => r.Causal).ThenBy(r => r.Layout).ThenBy(r => r.Ranks))
            {
                md.AppendLine($"| {r.Mode}{(r.Oversubscribed ? " (oversubscribed)" : "")} | {r.Direction} | {(r.Causal ? "causal" : "full")} | {r.Layout} | {r.Ranks} | {r.SequenceLength} | " +
                    $"{r.CriticalPathSeconds:F3} | {r.WallSeconds:F3} | {(double.IsNaN(r.Efficiency) ? "" : $"{100 * r.Efficiency:F0}%")} | {r.ExposedSeconds:F3} | " +
                    $"{(r.HiddenSeconds is { } h ? h.ToString("F3", CultureInfo.InvariantCulture) : "")} | " +
                    $"{(r.RankComputeSeconds.Count > 0 ? $"{r.RankComputeSeconds.Min():F3}–{r.RankComputeSeconds.Max():F3}" : "")} | {(r.PredictedSeconds is { } p ? p.ToString("F3", CultureInfo.InvariantCulture) : "")} | " +
                    $"{(r.PredictionError is { } e ? $"{(e >= 0 ? "+" : "")}{100 * e:F0}%" : "")} |");
            }
            md.AppendLine();
        }
        var errors = f.Runs.Where(r => r.PredictionError is not null).Select(r => Math.Abs(r.PredictionError!.Value)).ToList();
        if (errors.Count > 0)
        {
            md.AppendLine($"Model error over {errors.Count} runs: median {100 * Median(errors):F0}%, largest {100 * errors.Max():F0}% (absolute).");
        }
        return md.ToString();
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
