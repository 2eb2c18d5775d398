using RingAttention.Cpu;

namespace RingAttention.Bench;

/// <summary>
/// The backward block kernel on the forward kernel section's shapes (every N, H, head_dim and mask it measured), fp32
/// and bf16 on all cores, each next to the forward figure of the same shape, type and threads; then the PyTorch
/// autograd backward on the fp32 shapes when torch is installed. Best of the repeats.
/// </summary>
internal static class BackwardBench
{
    /// <summary>Storage types the section measures (fp16 costs what bf16 does: both widen to fp32 on load).</summary>
    public static IReadOnlyList<string> Types => ["fp32", "bf16"];

    public static BackwardSection Run(AllOptions options, IReadOnlyList<KernelResult> forward, IReadOnlyList<PeakResult> peaks, Action<string> print)
    {
        int threads = KernelBench.ThreadCounts[0];
        var shapes = forward.Where(k => k.Threads == threads && Types.Contains(k.DType)).ToList();
        double peak = peaks.FirstOrDefault(p => p.Threads == threads)?.Gflops ?? double.NaN;
        var results = new List<BackwardResult>();
        using (var backend = new CpuBackend(threads))
        using (var kernel = new CpuFlashBackwardKernel(threads))
        {
            WarmUp(kernel, backend, shapes);
            foreach (var shape in shapes)
            {
                using var problem = new BackwardProblem(Options(shape), shape.N, backend);
                var (best, cpuSeconds) = Enumerable.Range(0, options.Repeats).Select(_ => problem.Time(kernel)).MinBy(run => run.Seconds);
                double gflops = problem.Flops / best / 1e9;
                var result = new BackwardResult(shape.DType, shape.N, shape.Heads, shape.HeadDim, shape.Causal, threads, best, cpuSeconds, gflops,
                    100 * gflops / peak, shape.Gflops);
                results.Add(result);
                print($"backward {result.DType} N={result.N} H={result.Heads} D={result.HeadDim} causal={result.Causal,-5} threads={threads}: " +
                    $"{best * 1e3,8:F1} ms {gflops,6:F1} GFLOP/s ({result.PercentOfPeak:F0}% of peak); forward {shape.Gflops:F1} GFLOP/s");
            }
        }

        if (options.NoPeer)
        {
            print($"backward peer {TorchBackwardPeer.Name}: skipped (--no-peer)");
            return new BackwardSection(results, TorchBackwardPeer.Name, false, "skipped (--no-peer)", []);
        }
        print($"backward peer running the {TorchBackwardPeer.Name} autograd backward (torch_peer.py) on the fp32 shapes...");
        // Autograd is several times slower than the kernel: best of at most two runs.
        var peer = TorchBackwardPeer.Run(options.Python, results.Where(r => r.DType == "fp32"), Math.Min(options.Repeats, 2));
        print($"backward peer {TorchBackwardPeer.Name}: {peer.Description}");
        foreach (var p in peer.Results)
        {
            print($"backward peer {p.Peer} fp32 N={p.N} H={p.Heads} D={p.HeadDim} causal={p.Causal,-5} threads={p.Threads}: {p.Seconds * 1e3,8:F1} ms {p.Gflops,6:F1} GFLOP/s");
        }
        return new BackwardSection(results, TorchBackwardPeer.Name, peer.Available, peer.Description, peer.Results);
    }

    /// <summary>The <c>backward</c> verb: one shape, every run printed, the best summarised.</summary>
    public static int RunOne(BackwardOptions options, Action printMachine)
    {
        if (options.Repeats < 1)
        {
            Console.Error.WriteLine($"--repeats: expected at least 1, actual {options.Repeats}.");
            return 2;
        }
        printMachine();
        using var backend = new CpuBackend(options.Threads, options.Tier);
        using var kernel = new CpuFlashBackwardKernel(options.Threads, options.Tier);
        var attention = new AttentionOptions
        {
            Heads = options.Heads, KvHeads = options.KvHeads, HeadDim = options.HeadDim, Causal = options.Causal, ElementType = options.ElementType,
        };
        using var problem = new BackwardProblem(attention, options.SequenceLength, backend);
        Console.WriteLine($"backward {attention} N={options.SequenceLength} on {kernel.Threads} thread(s), {kernel.Tier}; " +
            "timed: preprocess + one kernel call (FLOPs 10·N²·H·D, halved when causal)");
        double best = double.MaxValue;
        for (int r = 0; r < options.Repeats; r++)
        {
            var (seconds, cpuSeconds) = problem.Time(kernel);
            best = Math.Min(best, seconds);
            // GFLOP per CPU-second: less sensitive to other processes taking the cores than wall-clock GFLOP/s.
            Console.WriteLine($"run {r}    {seconds * 1e3:F1} ms, {problem.Flops / seconds / 1e9:F1} GFLOP/s, {problem.Flops / cpuSeconds / 1e9 * kernel.Threads:F1} GFLOP per CPU-second × threads");
        }
        Console.WriteLine($"best     {problem.Flops / best / 1e9:F1} GFLOP/s (load {MachineFacts.LoadAverage()})");
        return 0;
    }

    private static AttentionOptions Options(KernelResult shape) => new()
    {
        Heads = shape.Heads, HeadDim = shape.HeadDim, Causal = shape.Causal, ElementType = ElementTypeOf(shape),
    };

    private static ElementType ElementTypeOf(KernelResult shape) => Enum.GetValues<ElementType>().First(type => ElementTypes.ShortName(type) == shape.DType);

    /// <summary>Compiles every kernel instantiation the section times before anything is timed.</summary>
    private static void WarmUp(CpuFlashBackwardKernel kernel, CpuBackend backend, IEnumerable<KernelResult> shapes)
    {
        foreach (var shape in shapes.DistinctBy(s => (s.DType, s.HeadDim)))
        {
            using var problem = new BackwardProblem(new AttentionOptions { Heads = 2, HeadDim = shape.HeadDim, Causal = true, ElementType = ElementTypeOf(shape) }, 512, backend);
            problem.Time(kernel);
        }
    }
}
