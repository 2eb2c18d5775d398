using RingAttention.Cpu;
using RingAttention.Layouts;
using RingAttention.Ring;

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
            var problems = new[] { (Layout: LayoutKind.Contiguous, Ranks: 1) }.Concat(ringSizes.Select(p => (Layout: LayoutKind.Zigzag, Ranks: p)))
                .Select(c => new RingProblem(options, n, c.Layout, c.Ranks, backend)).ToList();
            try
            {
                // Rounds over all ring sizes rather than all repeats of one size: a burst of load from elsewhere then
                // hits every P alike instead of one of them.
                var best = problems.Select(_ => (Seconds: double.MaxValue, CpuSeconds: 0.0, Reports: Array.Empty<RankReport>())).ToArray();
                for (int round = 0; round < repeats; round++)
                {
                    for (int i = 0; i < problems.Count; i++)
                    {
                        var run = problems[i].Time();
                        if (run.Seconds < best[i].Seconds)
                        {
                            best[i] = run;
                        }
                    }
                }
                for (int i = 0; i < problems.Count; i++)
                {
                    var (seconds, cpuSeconds, reports) = best[i];
                    var result = new RingResult(
                        n, heads, d, causal, problems[i].Layout.Ranks, problems[i].Layout.Name, seconds, cpuSeconds, options.ForwardFlops(n) / seconds / 1e9,
                        100 * (seconds / best[0].Seconds - 1), 100 * (cpuSeconds / best[0].CpuSeconds - 1),
                        reports.Sum(r => r.KernelCalls), reports.Sum(r => r.WaitSeconds), reports.Sum(r => r.BytesSent) / 1048576.0);
                    results.Add(result);
                    report(result);
                }
            }
            finally
            {
                foreach (var problem in problems)
                {
                    problem.Dispose();
                }
            }
        }
        return results;
    }
}
