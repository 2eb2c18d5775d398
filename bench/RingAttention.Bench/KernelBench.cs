using RingAttention.Cpu;

namespace RingAttention.Bench;

/// <summary>
/// The block kernel across the issues' shapes: fp32 on every thread count, bf16 and fp16 on all cores (to compare
/// with fp32 at equal threads), N = 4096 with 8 heads and N = 16384 with 2 heads (the same N·H, the shapes the peers
/// were measured on), head_dim 64 and 128, causal and not; best of the repeats.
/// </summary>
internal static class KernelBench
{
    /// <summary>Heads at sequence length <paramref name="n"/>: N·H = 32768 rows of queries in every shape.</summary>
    public static int Heads(int n) => Math.Max(1, 32768 / n);

    public static IReadOnlyList<int> Lengths(bool quick) => quick ? [2048] : [4096, 16384];

    public static IReadOnlyList<int> HeadDims => [64, 128];

    public static IReadOnlyList<int> ThreadCounts => Environment.ProcessorCount >= 2 ? [Environment.ProcessorCount, 1] : [1];

    public static List<KernelResult> Run(bool quick, int repeats, IReadOnlyList<PeakResult> peaks, Action<KernelResult> report)
    {
        var results = new List<KernelResult>();
        var types = new[] { ElementType.Float32, ElementType.BFloat16, ElementType.Float16 };
        WarmUp(types);
        foreach (int threads in ThreadCounts)
        {
            using var backend = new CpuBackend(threads);
            double peak = peaks.FirstOrDefault(p => p.Threads == threads)?.Gflops ?? double.NaN;
            foreach (var type in types)
            {
                // 16-bit storage is compared with fp32 at all cores; single-thread figures are fp32 only.
                if (type != ElementType.Float32 && threads != ThreadCounts[0])
                {
                    continue;
                }
                foreach (int n in Lengths(quick))
                {
                    foreach (int d in HeadDims)
                    {
                        foreach (bool causal in new[] { false, true })
                        {
                            var options = new AttentionOptions { Heads = Heads(n), HeadDim = d, Causal = causal, ElementType = type };
                            using var problem = new KernelProblem(options, n);
                            var (best, cpuSeconds) = Enumerable.Range(0, repeats).Select(_ => problem.Time(backend)).MinBy(run => run.Seconds);
                            double gflops = problem.Flops / best / 1e9;
                            var result = new KernelResult(ElementTypes.ShortName(type), n, Heads(n), d, causal, threads, best, cpuSeconds, gflops, 100 * gflops / peak);
                            results.Add(result);
                            report(result);
                        }
                    }
                }
            }
        }
        return results;
    }

    /// <summary>Compiles every kernel instantiation before anything is timed.</summary>
    private static void WarmUp(IEnumerable<ElementType> types)
    {
        using var backend = new CpuBackend();
        foreach (var type in types)
        {
            foreach (int d in HeadDims)
            {
                using var problem = new KernelProblem(new AttentionOptions { Heads = 2, HeadDim = d, Causal = true, ElementType = type }, 512);
                problem.Time(backend);
            }
        }
    }
}
