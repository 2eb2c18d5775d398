using RingAttention.Cpu;
using RingAttention.Layouts;

namespace RingAttention.Bench;

/// <summary>
/// The ring's own cost in emulation: one problem run by P = 1 (one kernel call per head, no exchange) and by
/// P = 2, 4, 8 zigzag ranks, all on the same backend and cores, causal and not. Overhead = t(P) / t(1) − 1.
/// </summary>
internal static class RingBench
{
    /// <summary>
    /// The problem: the million-token run's head shape (H = 1, D = 64) at N = 65536, where a rank's zigzag half-block
    /// at P = 8 is 4096 rows: kernel calls of realistic size, and K/V exchanges small next to the compute.
    /// </summary>
    public static (int N, int Heads, int HeadDim) Problem(bool quick) => quick ? (4096, 1, 64) : (65536, 1, 64);

    public static IReadOnlyList<int> RingSizes => [2, 4, 8];

    public static List<RingResult> Run(bool quick, int repeats, Action<RingResult> report)
    {
        var (n, heads, d) = Problem(quick);
        return Run(n, heads, d, [false, true], RingSizes, repeats, report);
    }

    public static List<RingResult> Run(int n, int heads, int d, IEnumerable<bool> causalities, IEnumerable<int> ringSizes, int repeats, Action<RingResult> report,
        int? threads = null)
    {
        var results = new List<RingResult>();
        using var backend = new CpuBackend(threads);
        foreach (bool causal in causalities)
        {
            var options = new AttentionOptions { Heads = heads, HeadDim = d, Causal = causal };
            var baseline = Measure(options, n, LayoutKind.Contiguous, 1, backend, repeats, baselineSeconds: null);
            results.Add(baseline);
            report(baseline);
            foreach (int ranks in ringSizes)
            {
                var result = Measure(options, n, LayoutKind.Zigzag, ranks, backend, repeats, baseline.Seconds);
                results.Add(result);
                report(result);
            }
        }
        return results;
    }

    private static RingResult Measure(AttentionOptions options, int n, LayoutKind layout, int ranks, CpuBackend backend, int repeats, double? baselineSeconds)
    {
        using var problem = new RingProblem(options, n, layout, ranks, backend);
        var (seconds, cpuSeconds, reports) = Enumerable.Range(0, repeats).Select(_ => problem.Time()).MinBy(run => run.Seconds);
        return new RingResult(
            n, options.Heads, options.HeadDim, options.Causal, ranks, problem.Layout.Name, seconds, cpuSeconds, options.ForwardFlops(n) / seconds / 1e9,
            baselineSeconds is { } baseline ? 100 * (seconds / baseline - 1) : 0,
            reports.Sum(r => r.KernelCalls), reports.Sum(r => r.WaitSeconds), reports.Sum(r => r.BytesSent) / 1048576.0);
    }
}
