using System.Diagnostics;
using CommandLine;
using RingAttention;
using RingAttention.Bench;
using RingAttention.Cpu;
using RingAttention.Planning;

var parser = new Parser(settings =>
{
    settings.CaseInsensitiveEnumValues = true;
    settings.HelpWriter = Console.Error;
});
return parser.ParseArguments<AllOptions, KernelOptions, RingOptions, BackwardOptions, ScalingOptions, DecodeBenchOptions>(args).MapResult(
    (AllOptions options) => RunAll(options),
    (KernelOptions options) => RunKernel(options),
    (RingOptions options) => RunRing(options),
    (BackwardOptions options) => BackwardBench.RunOne(options, () => PrintMachine(MachineFacts.Describe())),
    (ScalingOptions options) => RunScaling(options),
    (DecodeBenchOptions options) => DecodeBench.Run(options, () => PrintMachine(MachineFacts.Describe())),
    _ => 2);

static string CommandLine() => "dotnet run -c Release --project bench/RingAttention.Bench" +
    (Environment.GetCommandLineArgs().Length > 1 ? " -- " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)) : "");

static void PrintMachine(MachineFacts machine)
{
    Console.WriteLine($"command  {CommandLine()}");
    Console.WriteLine($"date     {machine.Date}");
    Console.WriteLine($"machine  {machine.Cpu}, {machine.Cores} cores, {machine.Simd}; {machine.Caches}");
    Console.WriteLine($"runtime  {machine.Runtime}, {machine.Os}");
    Console.WriteLine($"load     {machine.LoadAtStart} (1/5/15 min; other processes on these cores skew every figure)");
}

static int RunAll(AllOptions options)
{
    if (options.Repeats < 1)
    {
        Console.Error.WriteLine($"--repeats: expected at least 1, actual {options.Repeats}.");
        return 2;
    }
    var clock = Stopwatch.StartNew();
    var machine = MachineFacts.Describe();
    PrintMachine(machine);
    Directory.CreateDirectory(options.Out);

    var peaks = KernelBench.ThreadCounts.Select(t => new PeakResult(t, FmaPeak.Measure(t, 5))).ToList();
    foreach (var peak in peaks)
    {
        Console.WriteLine($"peak     {peak.Gflops:F1} GFLOP/s FMA on {peak.Threads} thread(s)");
    }

    var kernel = KernelBench.Run(options.Quick, options.Repeats, peaks, k => Console.WriteLine(
        $"kernel   {k.DType} N={k.N} H={k.Heads} D={k.HeadDim} causal={k.Causal,-5} threads={k.Threads}: {k.Seconds * 1e3,8:F1} ms {k.Gflops,6:F1} GFLOP/s ({k.PercentOfPeak:F0}% of peak)"));

    var peers = new List<PeerInfo>();
    var peerResults = new List<PeerResult>();
    if (options.NoPeer)
    {
        peers.Add(new PeerInfo(TorchPeer.Name, false, "skipped (--no-peer)"));
        peers.Add(new PeerInfo(OrtPeer.Name, false, "skipped (--no-peer)"));
    }
    else
    {
        // Peers run on the fp32 shapes at all cores, and single-thread only at the smallest N, to keep the bench short.
        int smallest = kernel.Min(k => k.N);
        var cases = kernel.Where(k => k.DType == "fp32" && (k.Threads == KernelBench.ThreadCounts[0] || k.N == smallest)).ToList();
        Console.WriteLine("peer     running the PyTorch peer (torch_peer.py) on the fp32 shapes...");
        // The torch peer is several times slower than the kernel: best of at most two runs.
        var torch = TorchPeer.Run(options.Python, cases, Math.Min(options.Repeats, 2));
        Console.WriteLine("peer     running the ONNX Runtime peer on the fp32 shapes...");
        var ort = OrtPeer.Run(cases, options.Repeats);
        foreach (var (info, measured) in new[] { torch, ort })
        {
            peers.Add(info);
            peerResults.AddRange(measured);
        }
    }
    foreach (var info in peers)
    {
        Console.WriteLine($"peer     {info.Name}: {info.Description}");
    }
    foreach (var p in peerResults)
    {
        Console.WriteLine($"peer     {p.Peer} fp32 N={p.N} H={p.Heads} D={p.HeadDim} causal={p.Causal,-5} threads={p.Threads}: {p.Seconds * 1e3,8:F1} ms {p.Gflops,6:F1} GFLOP/s");
    }

    var backward = BackwardBench.Run(options, kernel, peaks, Console.WriteLine);

    var ring = RingBench.Run(options.Quick, options.Repeats, x => Console.WriteLine(
        $"ring     N={x.N} H={x.Heads} D={x.HeadDim} causal={x.Causal,-5} P={x.Ranks} {x.Layout,-10}: {x.Seconds:F3} s ({x.CpuSeconds:F3} CPU-s) {x.Gflops,6:F1} GFLOP/s " +
        (x.Ranks == 1 ? "(baseline)" : $"overhead {Report.Signed(x.OverheadPercent)}% (CPU time {Report.Signed(x.CpuOverheadPercent)}%)") +
        $", {x.KernelCalls} kernel calls, exposed wait {x.ExposedWaitSeconds:F3} s"));

    var memory = MemoryBench.Run(options.Quick, x => Console.WriteLine(
        $"memory   {x.DType} N={x.N} P={x.Ranks}: {x.LocalRows} rows per rank, {x.RankMiB:F1} MiB per rank ({x.BytesPerLocalRow:F0} B per local row), kernel panels {x.KernelPanelsMiB:F1} MiB"));

    // The peak again at the end: a burst of load from elsewhere during the first measurement must not flatter the kernel.
    var finalPeaks = peaks.Select(p => p with { Gflops = Math.Max(p.Gflops, FmaPeak.Measure(p.Threads, 5)) }).ToList();
    foreach (var peak in finalPeaks)
    {
        Console.WriteLine($"peak     {peak.Gflops:F1} GFLOP/s FMA on {peak.Threads} thread(s) (best of the start and the end of the run)");
    }
    kernel = kernel.Select(k => k with { PercentOfPeak = 100 * k.Gflops / finalPeaks.First(p => p.Threads == k.Threads).Gflops }).ToList();

    var results = new BenchResults(CommandLine(), machine, finalPeaks, kernel, peers, peerResults, ring, memory,
        MachineFacts.LoadAverage(), clock.Elapsed.TotalSeconds);
    results = results with { Backward = backward.WithPeaks(finalPeaks) };
    string markdown = Report.Markdown(results);
    Report.WriteJson(results, Path.Combine(options.Out, "results.json"));
    File.WriteAllText(Path.Combine(options.Out, "results.md"), markdown);
    var plots = Plots.Write(results, options.Out);
    Console.WriteLine();
    Console.WriteLine(markdown);
    Console.WriteLine($"wrote    {Path.Combine(options.Out, "results.json")}, results.md, {string.Join(", ", plots)} (load at end {results.LoadAtEnd})");
    return 0;
}

static int RunKernel(KernelOptions options)
{
    PrintMachine(MachineFacts.Describe());
    using var backend = new CpuBackend(options.Threads, options.Tier);
    var attention = new AttentionOptions { Heads = options.Heads, HeadDim = options.HeadDim, Causal = options.Causal, ElementType = options.ElementType };
    using var problem = new KernelProblem(attention, options.SequenceLength);
    Console.WriteLine($"kernel   {attention} N={options.SequenceLength} on {backend.Description}");
    double best = double.MaxValue;
    for (int r = 0; r < options.Repeats; r++)
    {
        var (seconds, cpuSeconds) = problem.Time(backend);
        best = Math.Min(best, seconds);
        // GFLOP per CPU-second: less sensitive to other processes taking the cores than wall-clock GFLOP/s.
        Console.WriteLine($"run {r}    {seconds * 1e3:F1} ms, {problem.Flops / seconds / 1e9:F1} GFLOP/s, {problem.Flops / cpuSeconds / 1e9 * backend.Threads:F1} GFLOP per CPU-second × threads");
    }
    Console.WriteLine($"best     {problem.Flops / best / 1e9:F1} GFLOP/s (load {MachineFacts.LoadAverage()})");
    return 0;
}

static int RunRing(RingOptions options)
{
    PrintMachine(MachineFacts.Describe());
    RingBench.Run(options.SequenceLength, options.Heads, options.HeadDim, [options.Causal], options.Ranks.ToList(), options.Repeats, x => Console.WriteLine(
        $"ring     P={x.Ranks} {x.Layout,-10}: {x.Seconds:F3} s ({x.CpuSeconds:F3} CPU-s) {x.Gflops,6:F1} GFLOP/s " +
        (x.Ranks == 1 ? "(baseline)" : $"overhead {Report.Signed(x.OverheadPercent)}% (CPU time {Report.Signed(x.CpuOverheadPercent)}%)") +
        $", {x.KernelCalls} kernel calls, exposed wait {x.ExposedWaitSeconds:F3} s"), options.Threads);
    Console.WriteLine($"load     {MachineFacts.LoadAverage()}");
    return 0;
}

static int RunScaling(ScalingOptions options)
{
    if (options.Repeats < 1 || options.SequenceLength < 1 || options.TokensPerRank < 1 || options.Ranks.Any(p => p < 1))
    {
        Console.Error.WriteLine($"--repeats, --seq, --tokens-per-rank, --ranks: expected at least 1, actual {options.Repeats}, {options.SequenceLength}, {options.TokensPerRank}, {string.Join(',', options.Ranks)}.");
        return 2;
    }
    var machine = MachineFacts.Describe();
    PrintMachine(machine);
    Directory.CreateDirectory(options.Out);
    var file = ScalingBench.Run(options, CommandLine(), machine, Console.WriteLine);
    string json = Path.Combine(options.Out, "scaling.json");
    ScalingComparison.Write(file, json);
    string markdown = ScalingReport.Markdown(file);
    File.WriteAllText(Path.Combine(options.Out, "scaling.md"), markdown);
    var plots = ScalingPlots.Write(file, options.Out);
    Console.WriteLine();
    Console.WriteLine(markdown);
    Console.WriteLine($"wrote    {json}, scaling.md, {string.Join(", ", plots)}");
    return 0;
}
